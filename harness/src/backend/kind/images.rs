//! Image preload: the images the install plan's pods run are pulled once into the host's
//! Docker, saved to a cache directory keyed by image reference, and loaded into the kind node
//! with `kind load image-archive` (not `kind load docker-image`, which breaks under Docker's
//! containerd image store: kind#3795). A second run finds the archives and pulls nothing.
//! This module plans the commands; it must not run them.

use std::path::{Path, PathBuf};

use super::docker::CommandLine;

/// The archive file for `image` under `dir`: the reference with every character outside
/// `[A-Za-z0-9._-]` replaced by `_`, plus `.tar` (distinct references give distinct names
/// because `/`, `:` and `@` map to different sequences: `_s_`, `_c_`, `_a_`).
pub fn archive_path(dir: &Path, image: &str) -> PathBuf {
    let mut name = String::with_capacity(image.len() + 8);
    for ch in image.chars() {
        match ch {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '-' => name.push(ch),
            '/' => name.push_str("_s_"),
            ':' => name.push_str("_c_"),
            '@' => name.push_str("_a_"),
            '_' => name.push_str("__"),
            _ => name.push_str("_x_"),
        }
    }
    dir.join(format!("{name}.tar"))
}

/// `<cache>/images`.
pub fn images_dir(cache: &Path) -> PathBuf {
    cache.join("images")
}

/// The steps for one image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preload {
    pub image: String,
    pub archive: PathBuf,
    /// `docker image inspect` (to know whether a pull is needed).
    pub inspect: CommandLine,
    pub pull: CommandLine,
    pub save: CommandLine,
    pub load: CommandLine,
}

/// What to do for `image` into `cluster`.
pub fn preload(dir: &Path, image: &str, cluster: &str) -> Preload {
    let archive = archive_path(dir, image);
    let a = archive.display().to_string();
    Preload {
        image: image.to_string(),
        inspect: CommandLine::new("docker", ["image", "inspect", "--format", "{{.Id}}", image]),
        pull: CommandLine::new("docker", ["pull", image]),
        save: CommandLine::new("docker", ["save", "-o", &a, image]),
        load: CommandLine::new("kind", ["load", "image-archive", &a, "--name", cluster]),
        archive,
    }
}

/// Which commands actually run, given whether the archive exists and whether the image is in
/// the host's Docker: an archive present means load only; else pull if missing, save, load.
pub fn steps(p: &Preload, archive_exists: bool, in_docker: bool) -> Vec<&CommandLine> {
    if archive_exists {
        return vec![&p.load];
    }
    let mut out = Vec::new();
    if !in_docker {
        out.push(&p.pull);
    }
    out.push(&p.save);
    out.push(&p.load);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_names_are_filesystem_safe_and_distinct() {
        let d = Path::new("/c/images");
        let a = archive_path(d, "ghcr.io/fluxcd/source-controller:v1.9.4");
        assert_eq!(a, Path::new("/c/images/ghcr.io_s_fluxcd_s_source-controller_c_v1.9.4.tar"));
        assert_ne!(archive_path(d, "a/b:c"), archive_path(d, "a_b:c"));
        assert_ne!(archive_path(d, "a:b"), archive_path(d, "a/b"));
        assert!(!archive_path(d, "x@sha256:00").file_name().unwrap().to_string_lossy().contains([':', '@', '/']));
    }

    #[test]
    fn a_cached_archive_is_loaded_without_pulling() {
        let p = preload(Path::new("/c"), "openpolicyagent/gatekeeper:v3.23.0", "idp-harness");
        let run = |exists, in_docker| steps(&p, exists, in_docker).iter().map(|c| c.to_string()).collect::<Vec<_>>();
        let load = "kind load image-archive /c/openpolicyagent_s_gatekeeper_c_v3.23.0.tar --name idp-harness";
        assert_eq!(run(true, false), vec![load]);
        assert_eq!(
            run(false, false),
            vec![
                "docker pull openpolicyagent/gatekeeper:v3.23.0",
                "docker save -o /c/openpolicyagent_s_gatekeeper_c_v3.23.0.tar openpolicyagent/gatekeeper:v3.23.0",
                load
            ]
        );
        assert_eq!(run(false, true).len(), 2);
    }
}
