//! The client commands and the recipe compiler as a user runs them: what
//! they print, where, and with what exit status.

mod common;

use common::{Server, post};
use greenlight_tests::*;
use serde_json::json;
use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

fn greenlight(url: &str, token: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_greenlight"));
    c.env_remove("ANTHROPIC_API_KEY")
        .env("GREENLIGHT_URL", url)
        .env("GREENLIGHT_TOKEN", token)
        .stdin(Stdio::null());
    c
}

fn cli(url: &str, args: &[&str]) -> Output {
    greenlight(url, ALICE)
        .args(args)
        .output()
        .expect("greenlight runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_reader_that_stops_early_ends_the_command_without_a_panic() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), None);
    let (run_id, _) = common::launch(&server.url);
    for args in [
        vec!["approvals", "list"],
        vec!["runs", "show", run_id.as_str()],
        vec!["runs", "list", "--json"],
    ] {
        let mut child = greenlight(&server.url, ALICE)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the command has anything to write.
        drop(child.stdout.take());
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let status = child.wait().unwrap();
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(status.code(), Some(101), "{args:?}: {stderr}");
    }
}

#[test]
fn an_answer_that_is_not_greenlights_json_is_an_error_not_a_decision() {
    // A web server that answers every request 200 with a page.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let page = "<html>Sign in to continue</html>";
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
        }
    });
    for args in [
        vec!["approvals", "approve", "run_x.listings_gate"],
        vec!["approvals", "reject", "run_x.listings_gate", "--feedback", "no"],
        vec!["approvals", "list"],
    ] {
        let out = cli(&url, &args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(!out.status.success(), "{args:?} succeeded: {stdout}");
        assert!(stderr.contains("not Greenlight's JSON"), "{args:?}: {stderr}");
        assert!(
            !stdout.contains("Approved") && !stdout.contains("Rejected"),
            "{stdout}"
        );
    }
}

#[test]
fn text_from_other_people_cannot_drive_the_terminal_and_a_decision_shows_its_words() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), None);
    let (run_id, run) = common::launch(&server.url);
    let gate = step_id(&run, "listings_gate");
    let feedback = "Too loud.\n\u{1b}[31mFAKE ROW\u{1b}[0m\tand \u{202e}reversed";
    let (status, body) = post(
        &server.url,
        ALICE,
        &format!("/api/dashboard/approvals/{gate}/reject"),
        json!({"feedback": feedback}),
    );
    assert_eq!(status, 200, "{body}");
    for args in [
        vec!["runs", "list", "--status", "failed"],
        vec!["runs", "show", run_id.as_str()],
        vec!["approvals", "show", gate.as_str()],
    ] {
        let out = cli(&server.url, &args);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        assert!(
            !stdout.contains('\u{1b}') && !stdout.contains('\u{202e}') && !stdout.contains('\t'),
            "{args:?}: {stdout:?}"
        );
        assert!(
            !stdout.lines().any(|l| l.starts_with("\u{fffd}[31mFAKE ROW")),
            "{args:?}: the feedback's line break made a row: {stdout}"
        );
    }
    let shown = text(&cli(&server.url, &["approvals", "show", &gate]).stdout);
    assert!(
        shown.contains("feedback: Too loud. \u{fffd}[31mFAKE ROW"),
        "the decision's feedback: {shown}"
    );
    // --json is the API's JSON, escaped by JSON itself.
    let json = text(&cli(&server.url, &["approvals", "show", &gate, "--json"]).stdout);
    let card: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(card["decision"]["feedback"], feedback);
}

#[test]
fn compiling_recipes_writes_all_of_them_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(repo().join("tests/fixtures/recipes/soft-launch.yaml")).unwrap();
    let good = good.replace("id: soft-launch", "id: my-launch");
    // A gate that comes before the agent it reviews: a cycle.
    let cyclic = good.replace("id: my-launch", "id: my-cycle").replace(
        "{key: listing_optimizer, kind: agent, agent: listing_optimizer, label: Listing Optimizer}",
        "{key: listing_optimizer, kind: agent, agent: listing_optimizer, label: Listing Optimizer, after: [publish_listings]}",
    );
    assert_ne!(cyclic, good.replace("id: my-launch", "id: my-cycle"));
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.display().to_string()
    };
    let (good, cyclic, again) = (
        write("good.yaml", &good),
        write("cyclic.yaml", &cyclic),
        write("again.yaml", &good),
    );
    let out_dir = dir.path().join("out");
    let compile = |files: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_greenlight"))
            .args(["recipes", "compile"])
            .args(files)
            .arg("--out-dir")
            .arg(&out_dir)
            .output()
            .unwrap()
    };
    for files in [[good.as_str(), cyclic.as_str()], [good.as_str(), again.as_str()]] {
        let out = compile(&files);
        assert!(!out.status.success(), "{files:?}: {}", text(&out.stdout));
        assert!(
            !out_dir.exists() || std::fs::read_dir(&out_dir).unwrap().next().is_none(),
            "{files:?} left files behind"
        );
        if files[1] == again {
            assert!(
                text(&out.stderr).contains("ids must differ"),
                "{}",
                text(&out.stderr)
            );
        }
    }
    let check = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["recipes", "check", &good, &again])
        .output()
        .unwrap();
    assert!(!check.status.success());
    assert!(
        text(&check.stdout).contains("ids must differ"),
        "{}",
        text(&check.stdout)
    );
    let out = compile(&[&good]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out_dir.join("my-launch.asl.json").exists());
}

/// A list longer than `--limit` ends with its next page's cursor, and
/// `--cursor` gets that page: the pages together are every item, once.
#[test]
fn lists_page_with_the_cursor_they_print() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), None);
    let (one, _) = common::launch(&server.url);
    let (two, _) = common::launch(&server.url);
    let cursor_of = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("More: the same command with --cursor "))
            .map(str::to_string)
    };
    // Every page of a list, each row's first column kept where `keep` says.
    let pages = |args: &[&str], keep: &dyn Fn(&str) -> bool| {
        let (mut rows, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let mut a = args.to_vec();
            if let Some(c) = &cursor {
                a.extend(["--cursor", c.as_str()]);
            }
            let out = cli(&server.url, &a);
            assert!(out.status.success(), "{a:?}: {}", text(&out.stderr));
            let out = text(&out.stdout);
            pages += 1;
            rows.extend(
                out.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .filter(|id| keep(id))
                    .map(str::to_string),
            );
            match cursor_of(&out) {
                Some(c) => cursor = Some(c),
                None => return (rows, pages),
            }
            assert!(pages < 20, "the pages never end");
        }
    };
    let ours = |id: &str| id.starts_with(&format!("{one}.")) || id.starts_with(&format!("{two}."));
    // Eight gates wait: pages of five, then three.
    let (gates, n) = pages(&["approvals", "list", "--limit", "5"], &ours);
    let mut unique = gates.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((gates.len(), unique.len(), n), (8, 8, 2), "{gates:?}");
    // Two runs, a page each (and a last, empty one if the API says so).
    let (runs, n) = pages(&["runs", "list", "--limit", "1"], &|id: &str| {
        id == one || id == two
    });
    assert_eq!(runs, [two.clone(), one.clone()], "newest first");
    assert!(n >= 2, "{n} pages");
    // A cursor that is not one is the API's 400, named.
    let bad = cli(&server.url, &["runs", "list", "--cursor", "not-a-cursor"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("cursor"), "{}", text(&bad.stderr));
}

/// `greenlight dev`'s "Try" lines use a token that works on this store: once
/// the sample token they showed is revoked, they show another.
#[test]
fn the_dev_greeting_offers_no_revoked_token() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), None);
    let export = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.trim_start().starts_with("export GREENLIGHT_URL="))
            .cloned()
            .unwrap_or_else(|| panic!("no export line in {lines:?}"))
    };
    let first = export(&server.greeting());
    assert!(first.contains(&format!("GREENLIGHT_TOKEN={ALICE}")), "{first}");
    server.kill();
    let store = format!("sqlite:{}", data.path().join("greenlight.sqlite3").display());
    let revoked = Command::new(env!("CARGO_BIN_EXE_greenlight"))
        .args(["admin", "--store", &store, "token", "revoke", "--token", ALICE])
        .output()
        .unwrap();
    assert!(revoked.status.success(), "{}", text(&revoked.stderr));
    let server = Server::start(data.path(), None);
    let greeting = server.greeting();
    let again = export(&greeting);
    assert!(!greeting.iter().any(|l| l.contains(ALICE)), "{greeting:?}");
    let token = again
        .split("GREENLIGHT_TOKEN=")
        .nth(1)
        .unwrap_or_else(|| panic!("{again}"))
        .trim();
    // The token offered works.
    let me = cli(&server.url, &["runs", "list"]);
    assert!(!me.status.success(), "alice's token is revoked");
    let works = greenlight(&server.url, token)
        .args(["runs", "list"])
        .output()
        .unwrap();
    assert!(works.status.success(), "{token}: {}", text(&works.stderr));
}
