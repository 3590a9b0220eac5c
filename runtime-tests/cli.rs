//! rt's command line as scripts and runc's own tests read it: help in
//! runc's layout, the version lines, how flags parse.

use std::process::Command;

use crate::common::{run_with_deadline, tempdir, Outcome, RT};

/// `rt args...` with an (empty) state root of its own; the temp dir holds
/// the output files.
fn rt(args: &[&str]) -> Outcome {
    let tmp = tempdir();
    let root = tmp.path().join("state");
    std::fs::create_dir(&root).expect("create state root");
    let mut cmd = Command::new(RT);
    cmd.arg("--root").arg(&root).args(args);
    run_with_deadline(cmd, &tmp.path().join("out"))
}

/// Every command runc's help test asks about, and rt's own.
const COMMANDS: [&str; 18] = [
    "checkpoint",
    "create",
    "delete",
    "events",
    "exec",
    "kill",
    "list",
    "pause",
    "ps",
    "restore",
    "resume",
    "run",
    "spec",
    "start",
    "state",
    "update",
    "features",
    "migrate",
];

#[test]
fn help_flags_print_runcs_layout() {
    for flag in ["-h", "--help"] {
        let out = rt(&[flag]).ok();
        let lines = out.lines();
        assert_eq!(lines[0], "NAME:", "{out}");
        assert!(
            lines[1].starts_with("   rt - ") && lines[1].contains("Open Container Initiative"),
            "{out}"
        );
        for section in ["\nUSAGE:\n", "\nCOMMANDS:\n", "\nGLOBAL OPTIONS:\n"] {
            assert!(out.stdout.contains(section), "no {section:?}:\n{out}");
        }
        for cmd in COMMANDS {
            assert!(
                lines.iter().any(|l| l.starts_with(&format!("   {cmd} "))),
                "{cmd} is not listed:\n{out}"
            );
        }
    }
}

#[test]
fn every_command_has_help_in_runcs_layout() {
    for cmd in COMMANDS {
        for flag in ["-h", "--help"] {
            let out = rt(&[cmd, flag]).ok();
            let lines = out.lines();
            assert_eq!(lines[0], "NAME:", "{cmd} {flag}:\n{out}");
            assert!(
                lines[1].starts_with(&format!("   rt {cmd} - ")),
                "{cmd} {flag}:\n{out}"
            );
            assert!(out.stdout.contains("\nUSAGE:\n"), "{cmd} {flag}:\n{out}");
        }
        // The help command says the same.
        assert_eq!(
            rt(&["help", cmd]).ok().stdout,
            rt(&[cmd, "--help"]).ok().stdout
        );
    }
}

#[test]
fn help_names_what_a_command_takes() {
    let out = rt(&["kill", "--help"]).ok();
    assert!(
        out.stdout
            .contains("   rt kill [command options] <container-id> [signal]\n"),
        "{out}"
    );
    let out = rt(&["create", "--help"]).ok();
    assert!(out.stdout.contains("   --bundle value, -b value "), "{out}");
    // A command's arguments are added when it is built (`Cmd` defers
    // them), and building adds clap's help flag too: not listed.
    for cmd in COMMANDS {
        let out = rt(&[cmd, "--help"]).ok();
        assert!(!out.stdout.contains("Print help"), "{cmd}:\n{out}");
    }
}

#[test]
fn help_of_an_unknown_command_fails_as_runc_does() {
    for args in [&["foo", "-h"][..], &["help", "foo"], &["foo"]] {
        let out = rt(args);
        assert_eq!(out.code, 3, "{args:?}:\n{out}");
        out.fails_with("No help topic for 'foo'");
    }
}

#[test]
fn a_help_flag_of_the_containers_command_is_not_rts() {
    // `-h` after the container id belongs to the command run in it.
    let out = rt(&["exec", "nope", "sh", "-h"]);
    out.fails_with("nope does not exist");
}

#[test]
fn no_command_prints_help() {
    let out = rt(&[]).ok();
    assert_eq!(out.lines()[0], "NAME:", "{out}");
}

/// `x.y.z` with numbers.
fn is_semver(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn version_lines_are_runcs() {
    for flag in ["-v", "--version"] {
        let out = rt(&[flag]).ok();
        let lines = out.lines();
        let version = lines[0].strip_prefix("rt version ").unwrap_or_default();
        assert!(is_semver(version), "{out}");
        let commit = lines[1].strip_prefix("commit: ").unwrap_or_default();
        assert!(!commit.is_empty() && !commit.contains(' '), "{out}");
        let spec = lines[2].strip_prefix("spec: ").unwrap_or_default();
        assert!(is_semver(spec), "{out}");
    }
}

#[test]
fn a_flag_given_twice_is_no_usage_error() {
    // Podman passes --leave-running twice; runc takes the last value of
    // any repeated flag.
    let out = rt(&["checkpoint", "--leave-running", "--leave-running", "nope"]);
    out.fails_with("nope does not exist");
    let out = rt(&["--debug", "--debug", "kill", "-a", "-a", "nope", "KILL"]);
    out.fails_with("nope does not exist");
    let out = rt(&["list", "--format", "json", "--format", "table", "-q", "-q"]).ok();
    assert_eq!(out.stdout, "", "{out}");
    let out = rt(&["list", "--format", "table", "--format", "json"]).ok();
    assert!(
        out.stdout.starts_with('['),
        "the last --format wins:\n{out}"
    );
}

#[test]
fn list_fails_for_a_root_that_does_not_exist() {
    let tmp = tempdir();
    let missing = tmp.path().join("missing");
    let mut cmd = Command::new(RT);
    cmd.arg("--root").arg(&missing).arg("list");
    let out = run_with_deadline(cmd, &tmp.path().join("out"));
    out.fails_with("missing");
    assert!(!missing.exists(), "list made the root");
    // An existing, empty one lists nothing.
    rt(&["list"]).ok();
}

/// `--rootless` takes runc's values (auto, or a Go boolean) and nothing
/// else; it always takes a value, as runc's flag does.
#[test]
fn rootless_takes_runcs_values() {
    for value in ["auto", "AUTO", "", "true", "false", "1", "0", "t", "F"] {
        rt(&["--rootless", value, "list"]).ok();
        rt(&[&format!("--rootless={value}"), "list"]).ok();
    }
    for bad in ["yes", "bogus", "list"] {
        let out = rt(&["--rootless", bad, "list"]);
        assert_ne!(out.code, 0, "{bad}: {out}");
        assert!(out.stderr.contains("--rootless"), "{bad}: {out}");
    }
}

/// Help names the program as it was called: runc's tests take the name
/// from the binary's path, and a copy installed as another name says so.
#[test]
fn help_names_the_program_as_called() {
    let tmp = tempdir();
    let link = tmp.path().join("rt-as-called");
    std::os::unix::fs::symlink(RT, &link).expect("symlink");
    let mut cmd = Command::new(&link);
    cmd.args(["create", "--help"]);
    let out = run_with_deadline(cmd, &tmp.path().join("out")).ok();
    assert_eq!(
        out.lines()[1],
        "   rt-as-called create - Create a container (it waits for `start`)",
        "{out}"
    );
}

/// Every rt process, whatever its command, relocates each pointer in rt's
/// read-only data when it starts: a page written, and copied, per page of
/// them. regex's Unicode tables (oci-spec checks execCPUAffinity with a
/// regex) were 105 KiB of such pointers, 26 of the 60 pages each start
/// wrote; rt links regex-lite in regex's place (patches/regex, README).
/// Their entries' names tell whether they are back.
#[test]
fn start_up_relocates_no_unicode_tables() {
    let bin = std::fs::read(RT).expect("read rt's binary");
    for name in ["Caucasian_Albanian", "Anatolian_Hieroglyphs"] {
        assert!(
            !bin.windows(name.len()).any(|w| w == name.as_bytes()),
            "rt's binary holds regex's Unicode tables ({name}): did a dependency bring regex back?"
        );
    }
}
