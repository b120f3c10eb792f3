//! `sleep`: pause (interrupted by Ctrl-C).

use std::time::Duration;

use crate::run::context::{fail, Cx};
use crate::run::events::Failure;

pub async fn run(cx: &Cx, d: Duration) -> Result<(), Failure> {
    if cx.pause(d).await {
        Ok(())
    } else {
        Err(fail("interrupted"))
    }
}
