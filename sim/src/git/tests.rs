//! Tests of the scenario Git repositories with real repositories in temporary directories:
//! creation, changes, Flux's ref resolution and messages, semver, export and ignore rules.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use super::constraint::{parse_tag_version, Constraints};
use super::ignore::{read_patterns, Matcher};
use super::*;

const URL: &str = "https://github.com/acme/app";

/// Writes `files` (path, contents) under a new directory inside `parent`.
fn fixture(parent: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = parent.join(name);
    fs::create_dir_all(&dir).unwrap();
    for (path, contents) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, contents).unwrap();
    }
    dir
}

struct Env {
    tmp: TempDir,
    repos: Repos,
}

fn env() -> Env {
    let tmp = TempDir::new().unwrap();
    let repos = Repos::new(tmp.path().join("repos"));
    Env { tmp, repos }
}

impl Env {
    fn src(&self, name: &str, files: &[(&str, &str)]) -> PathBuf {
        fixture(self.tmp.path(), name, files)
    }

    fn app(&self) -> RepoHandle {
        let from = self.src("app", &[("deploy/app.yaml", "kind: ConfigMap\n"), ("README.md", "# app\n")]);
        self.repos.add(RepoSpec::new(URL, from)).unwrap()
    }

    fn out(&self, name: &str) -> PathBuf {
        self.tmp.path().join("out").join(name)
    }
}

/// Relative paths of the regular files under `dir`, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            let rel = if prefix.is_empty() { name } else { format!("{prefix}/{name}") };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// Plain git, for looking at repositories independently of the module.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn fetch_err(h: &RepoHandle, r: &GitRef) -> FetchError {
    match h.resolve(r) {
        Ok(ok) => panic!("expected a failure for {r:?}, got {ok:?}"),
        Err(e) => e,
    }
}

fn assert_send_sync<T: Send + Sync + Clone>() {}

#[test]
fn registry_and_handles_are_send_sync_and_clone() {
    assert_send_sync::<Repos>();
    assert_send_sync::<RepoHandle>();
}

// ---------------------------------------------------------------------------------------
// Creation and changes

#[test]
fn a_new_repository_has_one_commit_on_main_and_a_checked_out_work_tree() {
    let env = env();
    let h = env.app();
    let head = h.head("main").unwrap();
    assert_eq!(h.branches(), vec!["main"]);
    assert!(h.tags().is_empty());
    assert_eq!(h.head_branch(), "main");
    assert_eq!(git(h.dir(), &["rev-parse", "HEAD"]), head.as_str());
    assert_eq!(
        git(h.dir(), &["log", "--format=%s|%an <%ae>|%ad|%cd", "--date=iso-strict"]),
        "initial contents|idp-harness <idp-harness@localhost>|2026-01-01T00:00:00Z|2026-01-01T00:00:00Z"
    );
    assert_eq!(git(h.dir(), &["status", "--porcelain"]), "");
    assert_eq!(fs::read_to_string(h.dir().join("deploy/app.yaml")).unwrap(), "kind: ConfigMap\n");
    assert!(!git(h.dir(), &["rev-parse", "--is-bare-repository"]).contains("true"));
}

#[test]
fn the_same_inputs_give_the_same_shas_in_every_run() {
    fn build(env: &Env) -> (Sha, Sha, Sha) {
        let from = env.src("same", &[("a.txt", "one\n"), ("dir/b.yaml", "b: 1\n")]);
        let h = env
            .repos
            .add(RepoSpec::new(URL, from).with_branch("dev", None).with_annotated_tag("v1.0.0", None, "release 1"))
            .unwrap();
        let second = h.commit("main", &[Change::write("a.txt", "two\n")], "second").unwrap();
        let on_dev = h.commit("dev", &[Change::remove("dir")], "drop dir").unwrap();
        (h.head("main").unwrap(), second, on_dev)
    }
    let (a, b) = (env(), env());
    let first = build(&a);
    assert_eq!(first, build(&b));
    // Pinned: what plain `git commit -m "initial contents"` of that content gives with the
    // same identity and date (2026-01-01T00:00:00Z), on any machine.
    let initial = a.repos.get(URL).unwrap();
    assert_eq!(
        git(initial.dir(), &["rev-list", "--max-parents=0", "main"]),
        "87e4bad9ad58aef0b79f864b914d8fee99cd676b"
    );
    // Commits are one second apart, in the order they were made (the annotated tag took one).
    assert_eq!(git(initial.dir(), &["log", "-1", "--format=%ct", "main"]), (EPOCH + 2).to_string());
    assert_eq!(git(initial.dir(), &["log", "-1", "--format=%ct", "dev"]), (EPOCH + 3).to_string());
    // Different content, different SHA.
    let c = env();
    let from = c.src("same", &[("a.txt", "one!\n"), ("dir/b.yaml", "b: 1\n")]);
    let other = c.repos.add(RepoSpec::new(URL, from)).unwrap();
    assert_ne!(other.head("main").unwrap(), initial.head("main").unwrap());
}

#[test]
fn a_repository_made_again_is_written_from_memory_and_behaves_as_made_by_git() {
    let files: &[(&str, &str)] = &[("deploy/app.yaml", "kind: ConfigMap\n"), ("bin/run.sh", "#!/bin/sh\n")];
    let make = |env: &Env, contents: &[(&str, &str)]| {
        let from = env.src("tpl", contents);
        let mode = fs::Permissions::from_mode(0o755);
        fs::set_permissions(from.join("bin/run.sh"), mode).unwrap();
        env.repos.add(RepoSpec::new(URL, from).with_annotated_tag("v1", None, "one")).unwrap()
    };
    let (a, b) = (env(), env());
    let first = make(&a, files);
    let hits = super::repo::MADE.hits();
    let again = make(&b, files);
    assert_eq!(super::repo::MADE.hits(), hits + 1, "the second repository was made by git again");
    // The first one's directory going does not touch the copy.
    drop(a);
    assert_eq!(again.head("main").unwrap(), first.head("main").unwrap());
    assert_eq!(again.tags(), vec!["v1"]);
    assert_eq!(git(again.dir(), &["fsck", "--strict", "--no-progress"]), "");
    assert_eq!(git(again.dir(), &["status", "--porcelain"]), "");
    assert!(fs::metadata(again.dir().join("bin/run.sh")).unwrap().permissions().mode() & 0o111 != 0);
    // Changes work on the copy, dated after the annotated tag as on a repository git made.
    let c = env();
    let fresh = c.repos.add(RepoSpec::new(URL, c.src("other", &[("x", "y\n")]))).unwrap();
    assert_eq!(super::repo::MADE.hits(), hits + 1, "different contents were taken for the same");
    assert_ne!(fresh.head("main").unwrap(), again.head("main").unwrap());
    let next = again.commit("main", &[Change::write("deploy/app.yaml", "kind: Secret\n")], "next").unwrap();
    assert_eq!(git(again.dir(), &["log", "-1", "--format=%ct", "main"]), (EPOCH + 2).to_string());
    assert_eq!(fs::read_to_string(again.dir().join("deploy/app.yaml")).unwrap(), "kind: Secret\n");
    assert_eq!(git(again.dir(), &["rev-parse", "HEAD"]), next.as_str());
}

#[test]
fn commits_write_remove_and_copy_directories() {
    let env = env();
    let h = env.app();
    let extra = env.src("extra", &[("one.yaml", "1\n"), ("sub/two.yaml", "2\n")]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let script = extra.join("run.sh");
        fs::write(&script, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let before = h.head("main").unwrap();
    let sha = h
        .commit(
            "main",
            &[
                Change::write("./deploy//new.yaml", "new\n"),
                Change::remove("README.md"),
                Change::copy_dir(&extra, "vendor/extra"),
                Change::write("gone.txt", "x"),
                Change::remove("gone.txt"),
            ],
            "change things",
        )
        .unwrap();
    assert_ne!(sha, before);
    assert_eq!(h.head("main").unwrap(), sha);
    assert_eq!(git(h.dir(), &["rev-parse", "HEAD^"]), before.as_str());
    assert_eq!(git(h.dir(), &["log", "-1", "--format=%B"]), "change things");
    let mut expected = vec!["deploy/app.yaml", "deploy/new.yaml", "vendor/extra/one.yaml", "vendor/extra/sub/two.yaml"];
    #[cfg(unix)]
    {
        expected.insert(3, "vendor/extra/run.sh");
        assert_eq!(git(h.dir(), &["ls-tree", "--format=%(objectmode)", "HEAD", "vendor/extra/run.sh"]), "100755");
    }
    assert_eq!(git(h.dir(), &["ls-tree", "-r", "--name-only", "HEAD"]).lines().collect::<Vec<_>>(), expected);
    // The work tree follows the HEAD branch.
    assert_eq!(git(h.dir(), &["status", "--porcelain"]), "");
    assert!(h.dir().join("vendor/extra/sub/two.yaml").is_file());
    assert!(!h.dir().join("README.md").exists());

    // Removing a whole directory.
    h.commit("main", &[Change::remove("vendor")], "no vendor").unwrap();
    assert_eq!(git(h.dir(), &["ls-tree", "-r", "--name-only", "HEAD"]), "deploy/app.yaml\ndeploy/new.yaml");
}

#[test]
fn commits_on_another_branch_leave_head_and_the_work_tree_alone() {
    let env = env();
    let from = env.src("app", &[("a.txt", "a\n")]);
    let h = env.repos.add(RepoSpec::new(URL, from).with_branch("dev", Some("main"))).unwrap();
    let main = h.head("main").unwrap();
    let dev = h.commit("dev", &[Change::write("b.txt", "b\n")], "on dev").unwrap();
    assert_eq!(h.head("main").unwrap(), main);
    assert_eq!(h.head("dev").unwrap(), dev);
    assert_eq!(git(h.dir(), &["rev-parse", "HEAD"]), main.as_str());
    assert!(!h.dir().join("b.txt").exists());
    assert_eq!(git(h.dir(), &["status", "--porcelain"]), "");
}

#[test]
fn commit_errors_name_the_problem() {
    let env = env();
    let h = env.app();
    let cases: Vec<(Change, &str)> = vec![
        (
            Change::write("../outside.yaml", "x"),
            "invalid path \"../outside.yaml\" in repository https://github.com/acme/app: '..' is not allowed; paths stay inside the repository",
        ),
        (
            Change::write("deploy/../../outside.yaml", "x"),
            "invalid path \"deploy/../../outside.yaml\" in repository https://github.com/acme/app: '..' is not allowed; paths stay inside the repository",
        ),
        (
            Change::write("/etc/passwd", "x"),
            "invalid path \"/etc/passwd\" in repository https://github.com/acme/app: absolute paths are not allowed; give a path relative to the repository root",
        ),
        (
            Change::write(".git/config", "x"),
            "invalid path \".git/config\" in repository https://github.com/acme/app: '.git' is reserved for Git's own data",
        ),
        (Change::write("", "x"), "invalid path \"\" in repository https://github.com/acme/app: the path is empty"),
        (Change::remove("../x"), "invalid path \"../x\" in repository https://github.com/acme/app: '..' is not allowed; paths stay inside the repository"),
        (
            Change::copy_dir(env.tmp.path().join("missing"), "../up"),
            "invalid path \"../up\" in repository https://github.com/acme/app: '..' is not allowed; paths stay inside the repository",
        ),
        (
            Change::remove("nope.yaml"),
            "cannot remove \"nope.yaml\" from branch \"main\" of repository https://github.com/acme/app: no such file or directory",
        ),
    ];
    let before = h.head("main").unwrap();
    for (change, message) in cases {
        let err = h.commit("main", &[Change::write("ok.txt", "fine"), change.clone()], "bad").unwrap_err();
        assert_eq!(err.to_string(), message, "{change:?}");
    }
    assert_eq!(h.head("main").unwrap(), before, "a refused commit changes nothing");
    let err = h.commit("nope", &[], "x").unwrap_err();
    assert_eq!(err.to_string(), "repository https://github.com/acme/app has no branch \"nope\" (it has: main)");
}

#[cfg(unix)]
#[test]
fn symbolic_links_are_refused_with_their_path() {
    let env = env();
    let from = env.src("linked", &[("real.yaml", "x\n")]);
    fs::create_dir_all(from.join("sub")).unwrap();
    std::os::unix::fs::symlink("../real.yaml", from.join("sub/link.yaml")).unwrap();
    let err = env.repos.add(RepoSpec::new(URL, &from)).unwrap_err();
    assert!(matches!(err, GitError::Symlink { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a symbolic link; scenario Git repositories take regular files and directories only (copy the link's target instead)",
            from.join("sub/link.yaml").display()
        )
    );
    assert!(env.repos.get(URL).is_none(), "nothing registered");

    let h = env.repos.add(RepoSpec::new(URL, env.src("plain", &[("a", "a")]))).unwrap();
    let err = h.commit("main", &[Change::copy_dir(&from, "copied")], "copy").unwrap_err();
    assert!(matches!(err, GitError::Symlink { ref path } if path.ends_with("sub/link.yaml")), "{err}");
}

#[test]
fn spec_errors_are_reported_before_anything_is_created() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let err = env.repos.add(RepoSpec::new(URL, &from).with_branch("dev", Some("nope"))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "repository https://github.com/acme/app has no branch or tag \"nope\" (it has: dev, main)"
    );
    let err = env.repos.add(RepoSpec::new(URL, &from).with_branch("main", None)).unwrap_err();
    assert_eq!(err.to_string(), "repository https://github.com/acme/app already has a branch \"main\"");
    let err = env.repos.add(RepoSpec::new(URL, &from).with_tag("bad name", None)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid tag name \"bad name\" in repository https://github.com/acme/app: it contains a space, a control character or one of ~ ^ : ? * [ \\"
    );
    let err = env.repos.add(RepoSpec::new(URL, from.join("a"))).unwrap_err();
    assert_eq!(err.to_string(), format!("{} is not a directory (repository {URL})", from.join("a").display()));
    let nested = env.src("nested", &[(".git/HEAD", "ref: x")]);
    let err = env.repos.add(RepoSpec::new(URL, nested)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("invalid path \".git\" in repository https://github.com/acme/app: '.git' is reserved"),
        "{err}"
    );
    assert!(env.repos.urls().is_empty());
    assert!(!env.repos.root().exists() || fs::read_dir(env.repos.root()).unwrap().next().is_none());
}

#[test]
fn branches_and_tags_can_be_created_later_at_any_commit() {
    let env = env();
    let h = env.app();
    let first = h.head("main").unwrap();
    let second = h.commit("main", &[Change::write("b", "b")], "second").unwrap();
    assert_eq!(h.create_branch("old", &first.as_str()[..10]).unwrap(), first);
    assert_eq!(h.create_tag("v0.1.0", "old").unwrap(), first);
    assert_eq!(h.create_annotated_tag("v0.2.0", "main", "second release").unwrap(), second);
    assert_eq!(h.create_branch("from-tag", "v0.2.0").unwrap(), second);
    assert_eq!(h.create_branch("from-ref", "refs/tags/v0.1.0").unwrap(), first);
    assert_eq!(h.branches(), vec!["from-ref", "from-tag", "main", "old"]);
    assert_eq!(h.tags(), vec!["v0.1.0", "v0.2.0"]);
    assert_eq!(git(h.dir(), &["cat-file", "-t", "v0.2.0"]), "tag");
    assert_eq!(git(h.dir(), &["cat-file", "-t", "v0.1.0"]), "commit");

    let err = h.create_branch("old", "main").unwrap_err();
    assert_eq!(err.to_string(), "repository https://github.com/acme/app already has a branch \"old\"");
    let err = h.create_tag("v0.1.0", "main").unwrap_err();
    assert_eq!(err.to_string(), "repository https://github.com/acme/app already has a tag \"v0.1.0\"");
    let err = h.create_branch("x", "nope").unwrap_err();
    assert_eq!(
        err.to_string(),
        "repository https://github.com/acme/app has no branch, tag or commit \"nope\" (it has: from-ref, from-tag, main, old, v0.1.0, v0.2.0)"
    );
    let err = h.create_branch("x", "0000000000000000000000000000000000000000").unwrap_err();
    assert!(matches!(err, GitError::UnknownRef { .. }), "{err}");
    let err = h.create_branch("a..b", "main").unwrap_err();
    assert!(matches!(err, GitError::InvalidRefName { .. }), "{err}");
}

// ---------------------------------------------------------------------------------------
// URLs

#[test]
fn urls_are_normalised_harmlessly() {
    assert_eq!(normalize_url("HTTPS://GitHub.COM/acme/app.git/"), "https://github.com/acme/app");
    assert_eq!(normalize_url("https://github.com:443/acme/app//"), "https://github.com/acme/app");
    assert_eq!(normalize_url("https://github.com:8443/acme/app"), "https://github.com:8443/acme/app");
    assert_eq!(normalize_url("ssh://git@GitHub.com:22/acme/app.git"), "ssh://git@github.com/acme/app");
    assert_eq!(normalize_url("git@GitHub.com:acme/App.git"), "git@github.com:acme/App");
    // The path's case and the user are kept; only one `.git` goes.
    assert_eq!(normalize_url("https://github.com/Acme/App"), "https://github.com/Acme/App");
    assert_eq!(normalize_url("https://github.com/acme/app.git.git"), "https://github.com/acme/app.git");
    assert_ne!(normalize_url("ssh://github.com/acme/app"), normalize_url("ssh://git@github.com/acme/app"));
}

#[test]
fn lookups_use_normalised_urls_and_messages_quote_the_url_as_asked() {
    let env = env();
    env.app();
    let h = env.repos.get("HTTPS://GITHUB.COM/acme/app.git").expect("found after normalisation");
    assert_eq!(h.url(), "HTTPS://GITHUB.COM/acme/app.git");
    assert_eq!(h.registered_url(), URL);
    assert!(env.repos.get("https://github.com/ACME/app").is_none());
    assert!(env.repos.get("ssh://git@github.com/acme/app").is_none());
    assert_eq!(env.repos.urls(), vec![URL.to_string()]);
    assert_eq!(
        fetch_err(&h, &GitRef::branch("nope")).to_string(),
        "failed to checkout and determine revision: unable to clone 'HTTPS://GITHUB.COM/acme/app.git': couldn't find remote ref \"refs/heads/nope\""
    );
    let err = env.repos.add(RepoSpec::new("https://github.com/acme/app.git/", env.src("b", &[]))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "repository URL https://github.com/acme/app.git/ is already taken by https://github.com/acme/app (URLs are compared after normalisation: https://github.com/acme/app)"
    );
}

#[test]
fn the_unknown_url_message_says_how_to_map_it() {
    let known = vec!["https://github.com/acme/app".to_string(), "https://github.com/acme/infra".to_string()];
    assert_eq!(
        unknown_url_message("https://github.com/acme/other", &known),
        "no scenario Git repository has the URL 'https://github.com/acme/other': the simulator serves only the \
         repositories a scenario declares; add an entry to the scenario's repos: with url: https://github.com/acme/other \
         (or fix spec.url); known URLs: https://github.com/acme/app, https://github.com/acme/infra (URLs are compared \
         ignoring the case of scheme and host, default ports, trailing '/' and '.git')"
    );
    assert!(unknown_url_message("https://x/y", &[]).contains("this scenario declares no repositories"));
}

// ---------------------------------------------------------------------------------------
// Resolving refs as source-controller does

#[test]
fn no_ref_means_master_and_fails_on_a_main_only_repository() {
    let env = env();
    let h = env.app();
    for r in [GitRef::default(), GitRef { branch: Some(String::new()), tag: Some(String::new()), ..Default::default() }]
    {
        let err = fetch_err(&h, &r);
        assert_eq!(err.reason(), "GitOperationFailed");
        assert_eq!(
            err.message(),
            "failed to checkout and determine revision: unable to clone 'https://github.com/acme/app': couldn't find remote ref \"refs/heads/master\""
        );
    }
    let master = env
        .repos
        .add(RepoSpec::new("https://github.com/acme/legacy", env.src("legacy", &[("a", "a")])).initial_branch("master"))
        .unwrap();
    let sha = master.head("master").unwrap();
    assert_eq!(master.resolve(&GitRef::default()).unwrap(), Resolved { revision: format!("master@sha1:{sha}"), sha });
}

#[test]
fn git_ref_reads_the_spec_ref_json() {
    let r: GitRef =
        serde_json::from_value(serde_json::json!({"branch": "main", "semver": ">=1.0.0", "extra": 1})).unwrap();
    assert_eq!(r, GitRef { branch: Some("main".into()), semver: Some(">=1.0.0".into()), ..Default::default() });
    assert_eq!(serde_json::to_value(GitRef::tag("v1")).unwrap(), serde_json::json!({"tag": "v1"}));
}

#[test]
fn branches_resolve_to_their_head() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env.repos.add(RepoSpec::new(URL, from).with_branch("feature/x", None)).unwrap();
    let sha = h.commit("feature/x", &[Change::write("b", "b")], "feature").unwrap();
    let r = h.resolve(&GitRef::branch("feature/x")).unwrap();
    assert_eq!(r.revision, format!("feature/x@sha1:{sha}"));
    assert_eq!(r.sha, sha);
    let main = h.head("main").unwrap();
    assert_eq!(h.resolve(&GitRef::branch("main")).unwrap().revision, format!("main@sha1:{main}"));
}

#[test]
fn tags_resolve_to_the_tagged_commit_lightweight_or_annotated() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env
        .repos
        .add(RepoSpec::new(URL, from).with_tag("light", None).with_annotated_tag("v1.0.0", None, "one"))
        .unwrap();
    let first = h.head("main").unwrap();
    h.commit("main", &[Change::write("b", "b")], "later").unwrap();
    for tag in ["light", "v1.0.0"] {
        assert_eq!(
            h.resolve(&GitRef::tag(tag)).unwrap(),
            Resolved { revision: format!("{tag}@sha1:{first}"), sha: first.clone() }
        );
    }
    assert_eq!(
        fetch_err(&h, &GitRef::tag("v9.9.9")).to_string(),
        "failed to checkout and determine revision: unable to clone 'https://github.com/acme/app': couldn't find remote ref \"refs/tags/v9.9.9\""
    );
}

#[test]
fn commits_resolve_when_reachable_from_the_cloned_branches() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env.repos.add(RepoSpec::new(URL, from).with_branch("dev", None)).unwrap();
    let first = h.head("main").unwrap();
    let second = h.commit("main", &[Change::write("b", "b")], "second").unwrap();
    let on_dev = h.commit("dev", &[Change::write("c", "c")], "dev only").unwrap();

    let r = h.resolve(&GitRef::commit(first.as_str())).unwrap();
    assert_eq!(r, Resolved { revision: format!("sha1:{first}"), sha: first.clone() });
    // An upper-case SHA is the same object; the revision is lower-case.
    let r = h.resolve(&GitRef::commit(second.as_str().to_uppercase())).unwrap();
    assert_eq!(r.revision, format!("sha1:{second}"));
    // With a branch: the branch names the revision, and the commit must be on it.
    let with_branch = GitRef { branch: Some("main".into()), commit: Some(first.to_string()), ..Default::default() };
    assert_eq!(h.resolve(&with_branch).unwrap().revision, format!("main@sha1:{first}"));
    let wrong_branch = GitRef { branch: Some("main".into()), commit: Some(on_dev.to_string()), ..Default::default() };
    assert_eq!(
        fetch_err(&h, &wrong_branch).to_string(),
        format!("failed to checkout and determine revision: unable to resolve commit object for '{on_dev}': object not found")
    );
    // Without a branch every branch is cloned.
    assert_eq!(h.resolve(&GitRef::commit(on_dev.as_str())).unwrap().sha, on_dev);
    let missing_branch = GitRef { branch: Some("gone".into()), commit: Some(first.to_string()), ..Default::default() };
    assert_eq!(
        fetch_err(&h, &missing_branch).to_string(),
        "failed to checkout and determine revision: unable to clone 'https://github.com/acme/app': couldn't find remote ref \"refs/heads/gone\""
    );
    for unknown in ["0123456789012345678901234567890123456789", &first.as_str()[..12], "not-a-sha"] {
        assert_eq!(
            fetch_err(&h, &GitRef::commit(unknown)).to_string(),
            format!("failed to checkout and determine revision: unable to resolve commit object for '{unknown}': object not found")
        );
    }
    // A tree is not a commit.
    let tree = git(h.dir(), &["rev-parse", "main^{tree}"]);
    assert!(matches!(fetch_err(&h, &GitRef::commit(tree)), FetchError::CommitNotFound { .. }));
}

#[test]
fn ref_names_resolve_with_the_full_name_in_the_revision() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env
        .repos
        .add(RepoSpec::new(URL, from).with_tag("light", None).with_annotated_tag("v1.0.0", None, "one"))
        .unwrap();
    let sha = h.head("main").unwrap();
    for name in ["refs/heads/main", "refs/tags/light", "refs/tags/v1.0.0", "refs/tags/v1.0.0^{}", "HEAD"] {
        assert_eq!(
            h.resolve(&GitRef::name(name)).unwrap(),
            Resolved { revision: format!("{name}@sha1:{sha}"), sha: sha.clone() },
            "{name}"
        );
    }
    for name in ["refs/heads/nope", "refs/tags/light^{}", "main", "refs/pull/1/head"] {
        assert_eq!(
            fetch_err(&h, &GitRef::name(name)).to_string(),
            format!("failed to checkout and determine revision: unable to resolve ref '{name}' to a specific commit")
        );
    }
    assert_eq!(
        fetch_err(&h, &GitRef::name("refs/heads/main/")).to_string(),
        "failed to checkout and determine revision: ref refs/heads/main/ is invalid; Git refs cannot begin or end with a slash '/'"
    );
}

#[test]
fn precedence_is_commit_then_name_then_tag_then_semver_then_branch() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env.repos.add(RepoSpec::new(URL, from).with_branch("dev", None)).unwrap();
    let c1 = h.head("main").unwrap();
    h.create_tag("v1.0.0", "main").unwrap();
    let c2 = h.commit("main", &[Change::write("b", "b")], "2").unwrap();
    h.create_tag("v2.0.0", "main").unwrap();
    let c3 = h.commit("dev", &[Change::write("c", "c")], "3").unwrap();

    let all = GitRef {
        branch: Some("dev".into()),
        tag: Some("v1.0.0".into()),
        semver: Some(">=2.0.0".into()),
        name: Some("refs/heads/main".into()),
        commit: Some(c1.to_string()),
    };
    // The commit wins; with `name` set the revision carries the name (commitReference).
    assert_eq!(h.resolve(&all).unwrap(), Resolved { revision: format!("refs/heads/main@sha1:{c1}"), sha: c1.clone() });
    let no_commit = GitRef { commit: None, ..all.clone() };
    assert_eq!(h.resolve(&no_commit).unwrap().revision, format!("refs/heads/main@sha1:{c2}"));
    // Tag before semver, as fluxcd/pkg's clone switch has it.
    let tag_and_semver = GitRef { name: None, ..no_commit.clone() };
    assert_eq!(h.resolve(&tag_and_semver).unwrap().revision, format!("v1.0.0@sha1:{c1}"));
    let semver_and_branch = GitRef { tag: None, ..tag_and_semver.clone() };
    assert_eq!(h.resolve(&semver_and_branch).unwrap().revision, format!("v2.0.0@sha1:{c2}"));
    let branch_only = GitRef { semver: None, ..semver_and_branch };
    assert_eq!(h.resolve(&branch_only).unwrap().revision, format!("dev@sha1:{c3}"));
    // Empty strings are absent fields.
    let empty_commit = GitRef { commit: Some(String::new()), ..branch_only };
    assert_eq!(h.resolve(&empty_commit).unwrap().sha, c3);
}

#[test]
fn semver_picks_the_highest_matching_tag() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env
        .repos
        .add(
            RepoSpec::new(URL, from)
                .with_tag("v1.0.0", None)
                .with_tag("not-a-version", None)
                .with_tag("v1.2", None)
                .with_annotated_tag("0.9.0", None, "old"),
        )
        .unwrap();
    let mut at = std::collections::BTreeMap::new();
    at.insert("v1.0.0", h.head("main").unwrap());
    at.insert("0.9.0", h.head("main").unwrap());
    for (i, tag) in ["v1.2.0", "1.3.0-rc.1", "v2.0.0", "v10.0.0-alpha"].into_iter().enumerate() {
        let sha = h.commit("main", &[Change::write("n", i.to_string())], tag).unwrap();
        h.create_tag(tag, "main").unwrap();
        at.insert(tag, sha);
    }
    let cases = [
        (">=1.0.0 <2.0.0", "v1.2.0"),
        (">=1.0.0, <2.0.0", "v1.2.0"),
        ("1.x", "v1.2.0"),
        ("1.*", "v1.2.0"),
        ("~1.0", "v1.0.0"),
        ("~1", "v1.2.0"),
        ("^1.0", "v1.2.0"),
        ("^0.9", "0.9.0"),
        ("*", "v2.0.0"),
        (">=1.3.0-0 <2.0.0", "1.3.0-rc.1"),
        ("1.0.0", "v1.0.0"),
        ("=v1.0.0", "v1.0.0"),
        ("<1.0.0 || >=2.0.0", "v2.0.0"),
        ("0.9.0 - 1.1", "v1.0.0"),
        ("!=2.0.0", "v1.2.0"),
        ("<=1.2", "v1.2.0"),
        (">1.2", "v2.0.0"),
        (">=10.0.0-0", "v10.0.0-alpha"),
    ];
    for (constraint, tag) in cases {
        let r = h.resolve(&GitRef::semver(constraint)).unwrap_or_else(|e| panic!("{constraint}: {e}"));
        assert_eq!(r.revision, format!("{tag}@sha1:{}", at[tag]), "{constraint}");
    }
    assert_eq!(
        fetch_err(&h, &GitRef::semver("3.x")).to_string(),
        "failed to checkout and determine revision: no match found for semver: 3.x"
    );
    assert_eq!(
        fetch_err(&h, &GitRef::semver("latest")).to_string(),
        "failed to checkout and determine revision: semver parse error: improper constraint: \"latest\""
    );
    assert_eq!(
        fetch_err(&h, &GitRef::semver(">=1.0 || ")).to_string(),
        "failed to checkout and determine revision: semver parse error: improper constraint: \" \""
    );
}

#[test]
fn semver_ties_go_to_the_newest_commit() {
    let env = env();
    let from = env.src("app", &[("a", "a")]);
    let h = env.repos.add(RepoSpec::new(URL, from).with_tag("v1.0.0+zzz", None)).unwrap();
    let newer = h.commit("main", &[Change::write("b", "b")], "newer").unwrap();
    h.create_tag("v1.0.0+aaa", "main").unwrap();
    assert_eq!(h.resolve(&GitRef::semver("1.0.0")).unwrap().revision, format!("v1.0.0+aaa@sha1:{newer}"));
}

#[test]
fn constraints_follow_masterminds_semantics() {
    let v = |s: &str| parse_tag_version(s).unwrap_or_else(|| panic!("{s} is a version"));
    let yes = |c: &str, ver: &str| assert!(Constraints::parse(c).unwrap().matches(&v(ver)), "{c} should match {ver}");
    let no =
        |c: &str, ver: &str| assert!(!Constraints::parse(c).unwrap().matches(&v(ver)), "{c} should not match {ver}");
    yes(">11", "12.0.0");
    no(">11", "11.1.0");
    yes(">11.1", "11.2.0");
    no(">11.1", "11.1.9");
    yes("<=1.2", "1.2.9");
    no("<=1.2", "1.3.0");
    yes("~1.2.3", "1.2.9");
    no("~1.2.3", "1.3.0");
    no("~1.2.3", "1.2.2");
    yes("~>1.2", "1.2.0");
    yes("^1.2.3", "1.9.0");
    no("^1.2.3", "2.0.0");
    yes("^0.2.3", "0.2.9");
    no("^0.2.3", "0.3.0");
    yes("^0.0.3", "0.0.3");
    no("^0.0.3", "0.0.4");
    yes("!=4.x", "5.0.0");
    no("!=4.x", "4.1.0");
    yes("1.2.x", "1.2.7");
    no("1.2.x", "1.3.0");
    yes("=<2", "2.5.0");
    yes("=>2", "2.0.0");
    // Prereleases only when the AND group asks for one.
    no(">=1.0.0", "1.1.0-beta.1");
    yes(">=1.1.0-0", "1.1.0-beta.1");
    no(">=1.1.0-0 || >=0.1.0", "0.5.0-beta.1");
    yes("1.0.0-alpha - 1.0.0", "1.0.0-beta");
    // Build metadata does not count.
    yes("1.0.0", "1.0.0+build.5");

    // Tags as fluxcd/pkg reads them: three dot-separated parts, `v` allowed, leading zeros too.
    assert!(parse_tag_version("v1.2").is_none());
    assert!(parse_tag_version("1").is_none());
    assert!(parse_tag_version("release-1.2.3").is_none());
    assert_eq!(parse_tag_version("v2025.02.03-rc.1").unwrap().to_string(), "2025.2.3-rc.1");
    assert_eq!(parse_tag_version("v1.2-rc.1").unwrap().to_string(), "1.2.0-rc.1");

    let err = |c: &str| Constraints::parse(c).unwrap_err().to_string();
    assert_eq!(err("latest"), "improper constraint: \"latest\"");
    assert_eq!(err(">1.0.0<2.0.0"), "improper constraint: \">1.0.0<2.0.0\"");
    assert_eq!(err(""), "improper constraint: \"\"");
    assert_eq!(err("1.0.0,"), "improper constraint: \"1.0.0,\"");
    assert_eq!(err("1x.0"), "constraint parser error");
}

// ---------------------------------------------------------------------------------------
// Export and ignore rules

const TREE: &[(&str, &str)] = &[
    ("deploy/app.yaml", "kind: ConfigMap\n"),
    ("deploy/.sops.yaml", "creation_rules: []\n"),
    ("deploy/logo.png", "png"),
    ("README.md", "# app\n"),
    (".gitignore", "*.tmp\n"),
    (".gitattributes", "* text=auto\n"),
    (".github/workflows/ci.yml", "on: push\n"),
    ("dist/app.tar.gz", "gz"),
    ("other/secret.yaml", "other\n"),
];

fn tree_repo(env: &Env, extra: &[(&str, &str)]) -> RepoHandle {
    let mut files = TREE.to_vec();
    files.extend_from_slice(extra);
    env.repos.add(RepoSpec::new(URL, env.src("tree", &files))).unwrap()
}

#[test]
fn export_applies_the_default_exclusions() {
    let env = env();
    let h = tree_repo(&env, &[]);
    let dest = env.out("defaults");
    let stats = h.export(&h.head("main").unwrap(), &dest, None).unwrap();
    assert_eq!(files_under(&dest), vec!["README.md", "deploy/app.yaml", "other/secret.yaml"]);
    assert_eq!(stats, ExportStats { files: 3, bytes: 16 + 6 + 6, ignored: 6 });
    // Directories left empty by the exclusions go when they are excluded themselves.
    assert!(!dest.join(".github").exists());
    assert!(dest.join("dist").is_dir(), "dist/ is not excluded, only its file");
    // The repository is untouched.
    assert_eq!(git(h.dir(), &["status", "--porcelain"]), "");
}

#[test]
fn sourceignore_files_replace_the_defaults_but_not_the_vcs_patterns() {
    let env = env();
    let h = tree_repo(
        &env,
        &[
            (".sourceignore", "# docs\n*.md\n\n"),
            ("deploy/.sourceignore", "secret.yaml\n*.png\n"),
            ("deploy/secret.yaml", "s\n"),
        ],
    );
    let dest = env.out("sourceignore");
    let stats = h.export(&h.head("main").unwrap(), &dest, None).unwrap();
    assert_eq!(
        files_under(&dest),
        vec![
            ".github/workflows/ci.yml",
            ".sourceignore",
            "deploy/.sops.yaml",
            "deploy/.sourceignore",
            "deploy/app.yaml",
            "dist/app.tar.gz",
            "other/secret.yaml",
        ]
    );
    assert_eq!(stats.files, 7);
    assert_eq!(stats.ignored, 5);
}

#[test]
fn spec_ignore_adds_patterns_with_the_highest_priority() {
    let env = env();
    let h = tree_repo(&env, &[(".sourceignore", "other/\n")]);
    let sha = h.head("main").unwrap();
    // The example of Flux's documentation: everything but deploy/.
    let dest = env.out("only-deploy");
    h.export(&sha, &dest, Some("# exclude all\n/*\n# include deploy dir\n!/deploy\n")).unwrap();
    assert_eq!(files_under(&dest), vec!["deploy/.sops.yaml", "deploy/app.yaml", "deploy/logo.png"]);
    // A negation in spec.ignore overrides a .sourceignore exclusion.
    let dest = env.out("negation");
    h.export(&sha, &dest, Some("!other/secret.yaml\n")).unwrap();
    assert!(dest.join("other/secret.yaml").is_file());
    // The VCS patterns can be overridden the same way.
    let dest = env.out("vcs");
    h.export(&sha, &dest, Some("!.gitignore\n")).unwrap();
    assert!(dest.join(".gitignore").is_file());
}

#[test]
fn spec_ignore_without_patterns_keeps_the_defaults() {
    let env = env();
    let h = tree_repo(&env, &[]);
    let dest = env.out("comment-only");
    h.export(&h.head("main").unwrap(), &dest, Some("# nothing\n\n")).unwrap();
    assert_eq!(files_under(&dest), vec!["README.md", "deploy/app.yaml", "other/secret.yaml"]);
    let dest = env.out("replaced");
    h.export(&h.head("main").unwrap(), &dest, Some("README.md\n")).unwrap();
    assert_eq!(
        files_under(&dest),
        vec![
            ".github/workflows/ci.yml",
            "deploy/.sops.yaml",
            "deploy/app.yaml",
            "deploy/logo.png",
            "dist/app.tar.gz",
            "other/secret.yaml"
        ]
    );
}

#[test]
fn export_takes_any_commit_and_refuses_a_used_destination() {
    let env = env();
    let h = env.app();
    let first = h.head("main").unwrap();
    h.commit("main", &[Change::remove("deploy"), Change::remove("README.md")], "empty").unwrap();
    let empty = h.head("main").unwrap();
    let dest = env.out("empty");
    assert_eq!(h.export(&empty, &dest, None).unwrap(), ExportStats::default());
    assert!(dest.is_dir());
    let dest = env.out("first");
    assert_eq!(h.export(&first, &dest, None).unwrap().files, 2);
    let err = h.export(&first, &dest, None).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("cannot export into {}: it exists and is not an empty directory", dest.display())
    );
    // A commit the repository does not have: git's own failure, with the command and stderr.
    let unknown = Sha::parse("00000000000000000000000000000000000000aa").unwrap();
    let dest = env.out("unknown");
    let err = h.export(&unknown, &dest, None).unwrap_err().to_string();
    let prefix = format!(
        "git --work-tree {} read-tree --reset -u 00000000000000000000000000000000000000aa failed in {} (exit status 128): fatal: ",
        dest.display(),
        h.dir().display()
    );
    assert!(err.starts_with(&prefix), "{err}");
    assert!(!dest.exists(), "a destination the export created is removed when it fails");
    // No temporary index is left behind.
    let leftovers: Vec<_> = fs::read_dir(h.dir().join(".git"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("idp-export"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn a_commit_exported_again_is_written_from_memory_with_the_same_files_and_digest() {
    let env = env();
    let from =
        env.src("exp", &[("deploy/app.yaml", "kind: ConfigMap\n"), ("docs/x.md", "x\n"), (".sourceignore", "docs/\n")]);
    let h = env.repos.add(RepoSpec::new(URL, from)).unwrap();
    let sha = h.head("main").unwrap();
    let (one, two, three) = (env.out("one"), env.out("two"), env.out("three"));
    let stats = h.export(&sha, &one, None).unwrap();
    let hits = super::export::EXPORTED.hits();
    assert_eq!(h.export(&sha, &two, None).unwrap(), stats);
    assert_eq!(super::export::EXPORTED.hits(), hits + 1, "the second export ran git again");
    assert_eq!(files_under(&two), files_under(&one));
    assert_eq!(files_under(&two), vec![".sourceignore", "deploy/app.yaml"]);
    assert_eq!(artifact_digest(&two).unwrap(), artifact_digest(&one).unwrap());
    // Other ignore rules are another export; a used destination is refused either way.
    assert_eq!(h.export(&sha, &three, Some("deploy/")).unwrap().files, 1);
    assert_eq!(super::export::EXPORTED.hits(), hits + 1);
    assert!(matches!(h.export(&sha, &one, None), Err(GitError::DestinationNotEmpty { .. })));
}

#[test]
fn ignore_patterns_have_go_git_semantics() {
    let m = |text: &str| Matcher::new(read_patterns(text, &[]));
    let ex = |m: &Matcher, path: &str, dir: bool| m.excludes(&path.split('/').collect::<Vec<_>>(), dir);

    let names = m("*.yaml\n");
    assert!(ex(&names, "a.yaml", false));
    assert!(ex(&names, "deep/dir/a.yaml", false));
    assert!(!ex(&names, "a.yml", false));

    let classes = m("[abc].txt\n[^x]y.txt\n\\*.md\nbad[\n");
    assert!(ex(&classes, "b.txt", false));
    assert!(!ex(&classes, "d.txt", false));
    assert!(ex(&classes, "zy.txt", false));
    assert!(!ex(&classes, "xy.txt", false));
    assert!(ex(&classes, "*.md", false));
    assert!(!ex(&classes, "a.md", false));
    assert!(!ex(&classes, "bad[", false), "a malformed pattern matches nothing");

    let dirs = m("build/\n");
    assert!(!ex(&dirs, "build", false), "a directory pattern does not match a file");
    assert!(ex(&dirs, "build", true));
    assert!(ex(&dirs, "build/out.txt", false));
    assert!(ex(&dirs, "src/build/out.txt", false));

    let anchored = m("/top.txt\nconf/*.yaml\n");
    assert!(ex(&anchored, "top.txt", false));
    assert!(!ex(&anchored, "sub/top.txt", false));
    assert!(ex(&anchored, "conf/a.yaml", false));
    assert!(!ex(&anchored, "x/conf/a.yaml", false));

    let stars = m("**/secret.yaml\nlogs/**\n");
    assert!(ex(&stars, "secret.yaml", false));
    assert!(ex(&stars, "a/b/secret.yaml", false));
    assert!(ex(&stars, "logs/today.txt", false));
    assert!(ex(&stars, "logs", false), "go-git's `dir/**` matches dir itself");

    // Each path is matched on its own: a negation re-includes a file under an excluded dir.
    let reinclude = m("dir/\n!dir/keep.txt\n");
    assert!(ex(&reinclude, "dir/other.txt", false));
    assert!(!ex(&reinclude, "dir/keep.txt", false));

    // Patterns from a subdirectory's .sourceignore apply below it only.
    let scoped = Matcher::new(read_patterns("*.yaml\r\n", &["deploy".to_string()]));
    assert!(ex(&scoped, "deploy/a.yaml", false));
    assert!(!ex(&scoped, "a.yaml", false));
    assert!(!ex(&scoped, "other/a.yaml", false));
}

#[test]
fn artifact_digests_depend_on_paths_and_contents_only() {
    let env = env();
    let a = env.src("a", &[("x/one.yaml", "1\n"), ("two.yaml", "2\n")]);
    let b = env.src("b", &[("two.yaml", "2\n"), ("x/one.yaml", "1\n")]);
    fs::create_dir_all(b.join("empty")).unwrap();
    let digest = artifact_digest(&a).unwrap();
    assert_eq!(digest, artifact_digest(&b).unwrap());
    // Pinned: sha256 over "two.yaml\0" + len + "2\n" + "x/one.yaml\0" + len + "1\n".
    assert_eq!(digest, "sha256:275fe6d2976ba1a6a70a6ea5324418ea0d0098cd49fc9a22a3b0dc0ca23d3d43");
    let c = env.src("c", &[("x/one.yaml", "1\n"), ("two.yaml", "3\n")]);
    assert_ne!(artifact_digest(&c).unwrap(), digest);
    let d = env.src("d", &[("x/one.yml", "1\n"), ("two.yaml", "2\n")]);
    assert_ne!(artifact_digest(&d).unwrap(), digest);
}

#[test]
fn an_exported_artifact_digest_changes_with_the_commit() {
    let env = env();
    let h = env.app();
    let first = h.head("main").unwrap();
    let second = h.commit("main", &[Change::write("deploy/app.yaml", "kind: Secret\n")], "change").unwrap();
    let (d1, d2, d3) = (env.out("1"), env.out("2"), env.out("3"));
    h.export(&first, &d1, None).unwrap();
    h.export(&second, &d2, None).unwrap();
    h.export(&first, &d3, None).unwrap();
    assert_ne!(artifact_digest(&d1).unwrap(), artifact_digest(&d2).unwrap());
    assert_eq!(artifact_digest(&d1).unwrap(), artifact_digest(&d3).unwrap());
}

#[test]
fn repositories_can_be_used_from_many_threads() {
    let env = env();
    let h = env.app();
    let repos = env.repos.clone();
    std::thread::scope(|s| {
        for i in 0..4 {
            let repos = repos.clone();
            let h = h.clone();
            s.spawn(move || {
                let branch = format!("b{i}");
                h.create_branch(&branch, "main").unwrap();
                let sha = h.commit(&branch, &[Change::write(format!("f{i}"), "x")], "c").unwrap();
                let found = repos.get(URL).unwrap();
                assert_eq!(found.resolve(&GitRef::branch(&branch)).unwrap().sha, sha);
            });
        }
    });
    assert_eq!(h.branches().len(), 5);
}
