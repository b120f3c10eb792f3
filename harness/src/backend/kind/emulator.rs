//! The AWS emulator as a container on the `kind` Docker network: moto by default, LocalStack
//! when asked (the current image with `LOCALSTACK_AUTH_TOKEN`, else the frozen token-free
//! one). Pods reach it by container name; the harness reaches it on a loopback port Docker
//! publishes. This module builds the `docker` command lines and parses their output; it must
//! not start anything itself, and must never put the LocalStack token's value on a command
//! line (it is passed by name).

use super::docker::CommandLine;
use super::sweep::Owner;
use super::versions;

/// The account moto acts in for credentials it does not know (the kind emulator's controllers
/// and the harness share it).
pub const MOTO_ACCOUNT: &str = "123456789012";

/// The Docker network kind puts its nodes on.
pub const KIND_NETWORK: &str = "kind";

/// Which emulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Emulator {
    Moto,
    Localstack,
}

/// The emulator container to run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EmulatorSpec {
    pub emulator: Emulator,
    /// The container's name: the host name pods use.
    pub name: String,
    pub image: &'static str,
    /// The port inside the container.
    pub port: u16,
    /// LocalStack: whether `LOCALSTACK_AUTH_TOKEN` is passed through.
    pub token: bool,
}

impl EmulatorSpec {
    /// The emulator for cluster `cluster`; `token` says whether `LOCALSTACK_AUTH_TOKEN` is set.
    pub fn new(emulator: Emulator, cluster: &str, token: bool) -> EmulatorSpec {
        let name = format!("{cluster}-aws");
        match emulator {
            Emulator::Moto => {
                EmulatorSpec { emulator, name, image: versions::MOTO_IMAGE, port: versions::MOTO_PORT, token: false }
            }
            Emulator::Localstack => EmulatorSpec {
                emulator,
                name,
                image: if token { versions::LOCALSTACK_TOKEN_IMAGE } else { versions::LOCALSTACK_ARCHIVE_IMAGE },
                port: versions::LOCALSTACK_PORT,
                token,
            },
        }
    }

    /// The endpoint pods use: `http://<container name>:<port>`.
    pub fn cluster_endpoint(&self) -> String {
        format!("http://{}:{}", self.name, self.port)
    }

    /// The health path the harness polls on the published port.
    pub fn health_path(&self) -> &'static str {
        match self.emulator {
            Emulator::Moto => "/moto-api/",
            Emulator::Localstack => "/_localstack/health",
        }
    }

    /// The account the emulator acts in when a request names none.
    pub fn default_account(&self) -> &'static str {
        match self.emulator {
            Emulator::Moto => MOTO_ACCOUNT,
            // LocalStack takes the account from the access key id; the harness uses the default.
            Emulator::Localstack => "000000000000",
        }
    }

    /// `docker run`: detached, on the kind network under its name, the port published on a free
    /// loopback port, labelled for the sweep.
    pub fn run(&self, owner: &Owner) -> CommandLine {
        let mut args: Vec<String> = vec![
            "run".into(),
            "-d".into(),
            "--name".into(),
            self.name.clone(),
            "--network".into(),
            KIND_NETWORK.into(),
            "-p".into(),
            format!("127.0.0.1::{}", self.port),
        ];
        for (k, v) in owner.labels() {
            args.push("--label".into());
            args.push(format!("{k}={v}"));
        }
        match self.emulator {
            // One server for every service on the image's port, state in memory.
            Emulator::Moto => {}
            Emulator::Localstack if self.token => {
                // By name: docker copies the value from this process's environment.
                args.extend(["-e".into(), sim::aws::localstack::AUTH_TOKEN_VAR.into()]);
            }
            Emulator::Localstack => {
                args.extend(["-e".into(), format!("SERVICES={}", sim::aws::localstack::FREE_SERVICES.join(","))]);
            }
        }
        args.push(self.image.into());
        CommandLine::new("docker", args)
    }

    /// `docker port <name> <port>/tcp`.
    pub fn port(&self) -> CommandLine {
        CommandLine::new("docker", ["port".to_string(), self.name.clone(), format!("{}/tcp", self.port)])
    }

    /// `docker rm -f <name>`.
    pub fn remove(&self) -> CommandLine {
        CommandLine::new("docker", ["rm".to_string(), "-f".into(), self.name.clone()])
    }
}

/// The host port in `docker port` output (`127.0.0.1:49153`; one line per address).
pub fn parse_host_port(output: &str) -> Option<u16> {
    sim::aws::localstack::parse_host_port(output)
}

/// The gateway of the kind network, which pods reach the host through:
/// `docker network inspect kind`.
pub fn inspect_network() -> CommandLine {
    CommandLine::new("docker", ["network", "inspect", KIND_NETWORK])
}

/// The IPv4 gateway in `docker network inspect` JSON (an array of one network).
pub fn parse_gateway(json: &str) -> Option<std::net::Ipv4Addr> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let configs = v.get(0)?.get("IPAM")?.get("Config")?.as_array()?;
    configs.iter().filter_map(|c| c.get("Gateway")?.as_str()?.parse().ok()).next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner { run_id: "r1".into(), pid: 42, host: "h".into(), cluster: "idp-harness".into() }
    }

    #[test]
    fn moto_runs_on_the_kind_network_published_on_loopback() {
        let s = EmulatorSpec::new(Emulator::Moto, "idp-harness", true);
        let c = s.run(&owner());
        let line = c.to_string();
        assert_eq!(c.program, "docker");
        assert!(line.starts_with("docker run -d --name idp-harness-aws --network kind -p 127.0.0.1::5000 "), "{line}");
        assert!(line.contains("--label dev.idp-harness.owned=true"), "{line}");
        assert!(line.contains("--label dev.idp-harness.pid=42"), "{line}");
        assert!(line.ends_with(" motoserver/moto:5.2.5"), "{line}");
        assert!(!line.contains("LOCALSTACK"), "{line}");
        assert_eq!(s.cluster_endpoint(), "http://idp-harness-aws:5000");
    }

    #[test]
    fn localstack_passes_the_token_by_name_or_uses_the_archive() {
        let with = EmulatorSpec::new(Emulator::Localstack, "c", true).run(&owner());
        let i = with.args.iter().position(|a| a == "-e").unwrap();
        assert_eq!(with.args[i + 1], "LOCALSTACK_AUTH_TOKEN");
        assert_eq!(with.args.last().unwrap(), versions::LOCALSTACK_TOKEN_IMAGE);
        let without = EmulatorSpec::new(Emulator::Localstack, "c", false).run(&owner());
        assert!(!without.to_string().contains("LOCALSTACK_AUTH_TOKEN"));
        assert!(without.args.iter().any(|a| a.starts_with("SERVICES=iam,")));
        assert_eq!(without.args.last().unwrap(), "localstack/localstack:community-archive");
        assert!(without.args.contains(&"127.0.0.1::4566".to_string()));
    }

    #[test]
    fn gateway_and_port_parsing() {
        let json = r#"[{"Name":"kind","IPAM":{"Driver":"default","Config":[{"Subnet":"fc00:f853:ccd:e793::/64","Gateway":"fc00:f853:ccd:e793::1"},{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]}}]"#;
        assert_eq!(parse_gateway(json), Some(std::net::Ipv4Addr::new(172, 18, 0, 1)));
        assert_eq!(parse_gateway("[]"), None);
        assert_eq!(parse_host_port("127.0.0.1:49153\n"), Some(49153));
    }
}
