import XCTest

@testable import SluiceCore

/// End to end: the built binary, its output and exit codes. No scheduler needed.
final class CLITests: XCTestCase {
  func project() -> String {
    let dir = makeTempDir(self, "cli")
    XCTAssertEqual(sluice(["init"], cwd: dir).code, 0)
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n[limits]\nmax_concurrent = 2\n")
    return dir
  }

  func testVersionHelpAndUsageErrors() {
    let dir = makeTempDir(self)
    XCTAssertEqual(sluice(["--version"], cwd: dir).out, "sluice \(SluiceCLI.version)\n")
    let help = sluice(["tick", "--help"], cwd: dir)
    XCTAssertEqual(help.code, 0)
    XCTAssertTrue(help.out.contains("Usage: sluice tick") && help.out.contains("Examples:"))
    for c in SluiceCLI.commands where c.name != "sbatch" {
      let h = sluice([c.name, "--help"], cwd: dir)
      XCTAssertEqual(h.code, 0, c.name)
      XCTAssertTrue(h.out.contains("Examples:"), "\(c.name) --help has examples")
    }
    let bad = sluice(["runs", "--stat", "failed"], cwd: dir)
    XCTAssertEqual(bad.code, 2)
    XCTAssertTrue(bad.err.contains("did you mean --state?"), bad.err)
    let cmd = sluice(["tikc"], cwd: dir)
    XCTAssertEqual(cmd.code, 2)
    XCTAssertTrue(cmd.err.contains("did you mean 'tick'?"))
    XCTAssertEqual(sluice([], cwd: dir).code, 2)
  }

  /// `sluice runs` shows live states: it asks the backend first when runs are in
  /// flight and the last sync is older than `[slurm] sync_age`, and trusts a recent one.
  func testRunsShowsLiveStatesAtMostOncePerSyncAge() throws {
    let dir = project()
    write(dir + "/tasks.md", "## P\n- [ ] Quick\n  - run: `sleep 1`\n")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\nsync_age = 3600\n")
    func states(_ extra: [String]) -> [String] {
      let out = sluice(["runs", "--json"] + extra, cwd: dir).out
      return ((jsonObject(out) as? [[String: Any]]) ?? []).map { $0["state"] as? String ?? "?" }
    }
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)  // launches the run
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)  // sees it running: a sync
    XCTAssertEqual(states(["--no-sync"]), ["running"])
    sleep(2)  // it has ended; nothing has told the store yet
    XCTAssertEqual(states([]), ["running"], "a sync younger than sync_age is trusted")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\nsync_age = 1\n")
    XCTAssertEqual(states(["--no-sync"]), ["running"])
    XCTAssertEqual(states([]), ["completed"], "an older one is not: runs asks first")
    XCTAssertEqual(
      read(dir + "/tasks.md"), "## P\n- [x] Quick\n  - run: `sleep 1`\n", "and writes the marker back")
  }

  /// A template saved with Windows line ends renders a Unix script (sbatch refuses
  /// "\r\n", and bash would read the "\r" into each command).
  func testCRLFTemplateRendersUnixScript() throws {
    let dir = project()
    write(dir + "/tasks.md", "## P\n- [ ] One\n  - run: `echo hi`\n")
    try FileManager.default.createDirectory(atPath: dir + "/templates", withIntermediateDirectories: true)
    write(dir + "/templates/sbatch.sh", Template.builtin.replacingOccurrences(of: "\n", with: "\r\n"))
    let r = sluice(["plan", "--scripts"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    XCTAssertTrue(r.out.contains("#!/bin/bash\n"), r.out)
    XCTAssertFalse(r.out.utf8.contains(0x0D), "no \\r left in the script")
  }

  /// A task renamed while its runs are out gets a new id (made from its title): it is
  /// not submitted again, and the warning names the old id and the `- id:` that keeps
  /// its runs; with it, the task has its runs back and the warning goes.
  func testRenamedTaskIsNotResubmittedAndTheWarningSaysHowToKeepItsRuns() throws {
    let dir = project()
    write(dir + "/tasks.md", "## P\n- [ ] Train baseline\n  - run: `sleep 60`\n")
    addTeardownBlock { _ = sluice(["cancel", "--task", "p1-train-baseline"], cwd: dir) }
    XCTAssertEqual(sluice(["tick"], cwd: dir).code, 0)
    write(dir + "/tasks.md", read(dir + "/tasks.md").replacingOccurrences(of: "baseline", with: "baselines"))
    let renamed = sluice(["tick"], cwd: dir)
    XCTAssertEqual(renamed.code, 0, renamed.err)
    XCTAssertTrue(
      renamed.err.contains(
        "task 'p1-train-baselines' is marked [/] but sluice has no runs of it, so no tick will submit it;"),
      renamed.err)
    XCTAssertTrue(
      renamed.err.contains(
        "if it was renamed from 'p1-train-baseline' (sluice has runs of that task, no longer in the file), add '- id: p1-train-baseline' under it to keep them"
      ), renamed.err)
    let runs = try XCTUnwrap(jsonObject(sluice(["runs", "--json"], cwd: dir).out) as? [[String: Any]])
    XCTAssertEqual(runs.map { $0["id"] as? String }, ["p1-train-baseline"], "not submitted again")
    write(
      dir + "/tasks.md",
      read(dir + "/tasks.md").replacingOccurrences(
        of: "  - run:", with: "  - id: p1-train-baseline\n  - run:"))
    let kept = sluice(["tick"], cwd: dir)
    XCTAssertEqual(kept.code, 0, kept.err)
    XCTAssertFalse(kept.err.contains("has no runs of it"), kept.err)
    XCTAssertTrue(sluice(["tasks"], cwd: dir).out.contains("1 running"))
  }

  func testGridPastItsLimitIsAUsageError() {
    let dir = project()
    let many = (0..<1000).map(String.init).joined(separator: ",")
    let r = sluice(
      ["grid", "--sweep", "x", "--command", "echo {a} {b}", "--param", "a=" + many, "--param", "b=" + many],
      cwd: dir)
    XCTAssertEqual(r.code, 2, r.err)
    XCTAssertTrue(r.err.contains("the grid makes 1000 × 1000 runs, more than the 100000"), r.err)
    XCTAssertEqual(sluice(["runs", "--json"], cwd: dir).out, "[]\n", "nothing made")
  }

  /// The bash completion script, made from the command table, completes commands,
  /// each command's options and run states, when bash itself runs it.
  func testBashCompletionCompletesCommandsOptionsAndStates() throws {
    let dir = project()
    let script = sluice(["completions", "bash"], cwd: dir)
    XCTAssertEqual(script.code, 0, script.err)
    write(dir + "/completion.bash", script.out)
    func complete(_ words: [String]) -> String {
      let line = words.map { "'\($0)'" }.joined(separator: " ")
      let r = try? ProcessRunner().run(
        CommandRequest(
          argv: [
            "bash", "-c",
            "source '\(dir)/completion.bash'; COMP_WORDS=(\(line)); COMP_CWORD=\(words.count - 1); _sluice; echo \"${COMPREPLY[*]}\"",
          ], timeout: 20))
      return r?.stdoutText.trimmed() ?? ""
    }
    XCTAssertEqual(complete(["sluice", "wa"]), "wait")
    XCTAssertEqual(complete(["sluice", "ru"]), "run runs")
    XCTAssertEqual(complete(["sluice", "wait", "--ti"]), "--timeout")
    XCTAssertEqual(complete(["sluice", "runs", "--state", "fa"]), "failed")
    XCTAssertEqual(complete(["sluice", "tick", "--q"]), "--quiet")
    for c in SluiceCLI.commands { XCTAssertTrue(script.out.contains(c.name), c.name) }
    let zsh = sluice(["completions", "fish"], cwd: dir)
    XCTAssertEqual(zsh.code, 2)
    XCTAssertTrue(zsh.err.contains("'bash' is"), zsh.err)
  }

  /// wait never submits: on runs still queued it says that only a tick submits
  /// them (else, with no cron, it would sit to its timeout unexplained).
  func testWaitSaysQueuedRunsNeedATick() {
    let dir = project()
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n[limits]\nmax_concurrent = 1\n")
    write(dir + "/tasks.md", "## Phase 1\n- [ ] Grid\n  - run: `sleep {i}`\n  - grid: i = 2, 3, 4\n")
    let tick = sluice(["tick"], cwd: dir)
    XCTAssertEqual(tick.code, 0, tick.err)
    let r = sluice(["wait", "--task", "p1-grid", "--timeout", "0"], cwd: dir)
    XCTAssertEqual(r.code, 124, r.err)
    XCTAssertTrue(
      r.err.contains("are queued, not submitted yet") && r.err.contains("only 'sluice tick' submits them"),
      r.err)
    XCTAssertTrue(r.err.contains("sluice wait: 2 of these"), r.err)
    XCTAssertFalse(r.err.contains("held"), r.err)
    // A held run: a tick alone does not submit it either, and the line says what does.
    XCTAssertEqual(
      sluice(["run", "add", "--name", "probe", "--command", "true", "--held"], cwd: dir).code, 0)
    let h = sluice(["wait", "probe", "--timeout", "0"], cwd: dir)
    XCTAssertEqual(h.code, 124, h.err)
    XCTAssertTrue(
      h.err.contains("1 of these 1 unfinished run(s) are held") && h.err.contains("sluice run start"), h.err)
    XCTAssertFalse(h.err.contains("queued"), h.err)
    // The submitted run alone (`sleep 2`, running at wait's first look): no such
    // line, and on the local backend wait looks again every second, not once per
    // sync_age (60 s here, past this timeout), so it sees the run end.
    let one = sluice(["wait", "p1-grid.0", "--timeout", "50"], cwd: dir)
    XCTAssertEqual(one.code, 0, one.err)
    XCTAssertFalse(one.err.contains("sluice wait:"), one.err)
    XCTAssertTrue(one.out.contains("all 1 run(s) completed"), one.out)
  }

  func testWaitNeedsRunsAndSeconds() {
    let dir = project()
    for (args, code, text) in [
      (["wait"], 2, "name runs to wait for"),
      (["wait", "--task", "x", "--timeout", "soon"], 2, "takes seconds"),
      (["wait", "nope"], 1, "no run 'nope'"), (["wait", "--task", "none"], 1, "no runs to wait for"),
    ] {
      let r = sluice(args, cwd: dir)
      XCTAssertEqual(r.code, Int32(code), "\(args): \(r.err)")
      XCTAssertTrue(r.err.contains(text), r.err)
    }
  }

  func testInitRefusesToOverwrite() {
    let dir = makeTempDir(self)
    let r = sluice(["init"], cwd: dir)
    XCTAssertEqual(r.code, 0)
    XCTAssertTrue(
      Files.exists(dir + "/sluice.toml") && Files.isDirectory(dir + "/.sluice")
        && Files.exists(dir + "/tasks.md"))
    write(dir + "/tasks.md", "mine\n")
    let again = sluice(["init"], cwd: dir)
    XCTAssertEqual(again.code, 1)
    XCTAssertTrue(again.err.contains("never overwrites"))
    XCTAssertEqual(read(dir + "/tasks.md"), "mine\n")
  }

  func testTasksJSONShape() throws {
    let dir = project()
    let r = sluice(["tasks", "--json"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    let j = try XCTUnwrap(jsonObject(r.out) as? [String: Any])
    let phases = try XCTUnwrap(j["phases"] as? [[String: Any]])
    XCTAssertEqual(phases.count, 2)
    XCTAssertEqual(phases[0]["title"] as? String, "Phase 1: Baselines")
    XCTAssertEqual(phases[0]["finished"] as? Bool, false)
    let tasks = try XCTUnwrap(phases[0]["tasks"] as? [[String: Any]])
    XCTAssertEqual(tasks.map { $0["kind"] as? String }, ["run", "run", "manual", "gate"])
    XCTAssertEqual(tasks.map { $0["runnable"] as? Bool }, [true, true, false, false])
    XCTAssertEqual(tasks[0]["id"] as? String, "p1-baseline")
    XCTAssertEqual(tasks[0]["line"] as? Int, 6)
    XCTAssertEqual(tasks[0]["marker"] as? String, " ")
    let later = try XCTUnwrap((phases[1]["tasks"] as? [[String: Any]])?.first)
    XCTAssertEqual(later["blocked_by"] as? String, "phase:1")
    XCTAssertEqual(j["current_phase"] as? Int, 1)
    XCTAssertEqual((j["next"] as? [String: Any])?["title"] as? String, "Baseline")
    let next = sluice(["tasks", "--next"], cwd: dir)
    XCTAssertEqual(next.out, "tasks.md:6: [ ] Baseline  (run, id p1-baseline)\n")
  }

  func testBadTasksFileExit65AndNothingWritten() {
    let dir = project()
    write(dir + "/tasks.md", "## P\n- [?] A\n  - run: x {y}\n- [ ] B\n  - run: ``\n")
    let before = Files.list(dir + "/.sluice")
    for args in [["tasks"], ["plan"], ["tick"]] {
      let r = sluice(args, cwd: dir)
      XCTAssertEqual(r.code, 65, args.joined())
      XCTAssertTrue(r.err.contains("tasks.md:2:4: error: unknown marker [?]"), r.err)
      XCTAssertTrue(r.err.contains("tasks.md:5:"), r.err)
    }
    XCTAssertEqual(Files.list(dir + "/.sluice"), before)
    XCTAssertEqual(read(dir + "/tasks.md"), "## P\n- [?] A\n  - run: x {y}\n- [ ] B\n  - run: ``\n")
  }

  func testSentinelStopsPlanAndTick() {
    let dir = project()
    write(dir + "/tasks.md", "## P\n- [ ] A\n  - run: echo a\n\nABORT_EARLY_DOCS_CHECK_FAILED\n")
    for args in [["plan"], ["tick"]] {
      let r = sluice(args, cwd: dir)
      XCTAssertEqual(r.code, 3)
      XCTAssertTrue(r.err.contains("ABORT_EARLY_DOCS_CHECK_FAILED"))
    }
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive().runs.count, 0, "nothing submitted")
  }

  func testBadConfigExit78() {
    let dir = project()
    write(dir + "/sluice.toml", "[limits]\nmax_pendng = 3\n")
    let r = sluice(["plan"], cwd: dir)
    XCTAssertEqual(r.code, 78)
    XCTAssertEqual(
      r.err, "\(dir)/sluice.toml:2:1: error: unknown key 'limits.max_pendng'; did you mean 'max_pending'?\n")
  }

  func testRunsSweepsGridAndJSON() throws {
    let dir = project()
    XCTAssertEqual(sluice(["sweep", "create", "lr", "--goal", "best lr"], cwd: dir).code, 0)
    XCTAssertEqual(sluice(["sweep", "create", "lr"], cwd: dir).code, 1, "no duplicate sweeps")
    let g = sluice(
      [
        "grid", "--sweep", "lr", "--command", "python t.py --lr {lr} --seed {seed}", "--param",
        "lr=1e-3,1e-4", "--param", "seed=0,1", "--gpus", "1", "--json",
      ], cwd: dir)
    XCTAssertEqual(g.code, 0, g.err)
    let made = try XCTUnwrap(jsonObject(g.out) as? [[String: Any]])
    XCTAssertEqual(
      made.map { $0["command"] as? String },
      [
        "python t.py --lr 1e-3 --seed 0", "python t.py --lr 1e-3 --seed 1", "python t.py --lr 1e-4 --seed 0",
        "python t.py --lr 1e-4 --seed 1",
      ])
    XCTAssertEqual(made[0]["name"] as? String, "lr[lr=1e-3,seed=0]")
    let add = sluice(
      ["run", "add", "--name", "probe", "--command", "nvidia-smi", "--held", "--time", "5"], cwd: dir)
    XCTAssertEqual(add.code, 0, add.err)
    for twoLines in ["echo a\necho b", "echo a\r\necho b"] {
      let r = sluice(["run", "add", "--name", "two", "--command", twoLines], cwd: dir)
      XCTAssertEqual(r.code, 2, r.err)
      XCTAssertTrue(r.err.contains("--command must be one line"), r.err)
    }
    let runs = try XCTUnwrap(jsonObject(sluice(["runs", "--json"], cwd: dir).out) as? [[String: Any]])
    XCTAssertEqual(runs.count, 5)
    for key in ["id", "name", "state", "sweep", "task", "job_id", "exit_code"] {
      XCTAssertTrue(runs[0].keys.contains(key), key)
    }
    XCTAssertEqual(runs.last?["state"] as? String, "held")
    let held = try XCTUnwrap(
      jsonObject(sluice(["runs", "--state", "held", "--json"], cwd: dir).out) as? [[String: Any]])
    XCTAssertEqual(held.map { $0["name"] as? String }, ["probe"])
    XCTAssertEqual(sluice(["run", "start", "probe"], cwd: dir).code, 0)
    XCTAssertEqual(sluice(["run", "start", "probe"], cwd: dir).code, 1, "only held runs start")
    let sweep = try XCTUnwrap(
      jsonObject(sluice(["sweep", "show", "lr", "--json"], cwd: dir).out) as? [String: Any])
    XCTAssertEqual(sweep["goal"] as? String, "best lr")
    XCTAssertEqual(sweep["total"] as? Int, 4)
    let list = sluice(["sweep", "list"], cwd: dir)
    XCTAssertTrue(list.out.contains("lr     4     4 queued  best lr"), list.out)
    let show = sluice(["show", "probe"], cwd: dir)
    XCTAssertTrue(
      show.out.split(separator: "\n").contains { $0.hasPrefix("command ") && $0.hasSuffix(" nvidia-smi") },
      show.out)
    XCTAssertEqual(sluice(["show", "nope"], cwd: dir).code, 1)
    XCTAssertEqual(
      sluice(["grid", "--sweep", "x", "--command", "a {b}", "--param", "c=1"], cwd: dir).code, 2)
  }

  func testPlanWithGivenCapacity() throws {
    let dir = project()
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n")
    let r = sluice(["plan", "--gpus-free", "3", "--json"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    let j = try XCTUnwrap(jsonObject(r.out) as? [String: Any])
    let p = try XCTUnwrap(j["plan"] as? [String: Any])
    XCTAssertEqual(p["g"] as? Int, 3)
    XCTAssertEqual(p["r"] as? Int, 0)
    XCTAssertEqual(p["q"] as? Int, 5)
    XCTAssertEqual(p["max_new_runs"] as? Int, 3)
    XCTAssertEqual(
      p["submit"] as? [String], ["p1-baseline", "p1-learning-rate-sweep.0", "p1-learning-rate-sweep.1"])
    let text = sluice(["plan", "--gpus-free", "3", "--scripts"], cwd: dir)
    XCTAssertTrue(text.out.contains("max_new_runs = max(0, min(q, g - r)) = max(0, min(5, 3)) = 3"), text.out)
    XCTAssertTrue(text.out.contains("#SBATCH --array=0-1"), text.out)
    XCTAssertEqual(try Store(dir: dir + "/.sluice").loadActive().runs.count, 0, "plan changes nothing")
  }

  func testTickExitsSeventyFiveWhileLocked() throws {
    let dir = project()
    let lock = ProjectLock(path: dir + "/.sluice/lock")
    try lock.acquire(command: "tick")
    let r = sluice(["tick"], cwd: dir)
    lock.release()
    XCTAssertEqual(r.code, 75)
    XCTAssertTrue(r.err.contains("pid \(getpid())"), r.err)
    XCTAssertEqual(r.err.split(separator: "\n").count, 1, "one line for cron")
  }

  func testStaleLockRecoveredByTickWithAMessage() {
    let dir = project()
    write(dir + "/.sluice/lock", "host=elsewhere pid=424242 started=2026-01-01T00:00:00Z command=tick\n")
    let r = sluice(["tick", "--quiet"], cwd: dir)
    XCTAssertEqual(r.code, 0, r.err)
    XCTAssertTrue(r.err.contains("recovered a stale lock left by tick (pid 424242 on elsewhere"), r.err)
  }

  func testUnknownStateVersionIsReported() {
    let dir = project()
    write(dir + "/.sluice/active.json", "{\"version\": 3}")
    let r = sluice(["runs"], cwd: dir)
    XCTAssertEqual(r.code, 74, "a state file sluice cannot read has its own code")
    XCTAssertTrue(r.err.contains("version 3 is newer"), r.err)
    write(dir + "/.sluice/active.json", "{\"version\": 1, \"runs\": [")
    let damaged = sluice(["tick"], cwd: dir)
    XCTAssertEqual(damaged.code, 74, damaged.err)
    XCTAssertTrue(damaged.err.contains("/.sluice/active.json: cannot read state"), damaged.err)
  }

  /// No tasks file is its own exit code (66), for plan, tick and tasks alike, with
  /// the file and the fix named; nothing is written.
  func testMissingTasksFileHasItsOwnCode() {
    let dir = makeTempDir(self, "cli")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"local\"\n")
    for command in ["tick", "plan", "tasks"] {
      let r = sluice([command], cwd: dir)
      XCTAssertEqual(r.code, 66, "\(command): \(r.err)")
      XCTAssertTrue(r.err.contains("tasks.md") && r.err.contains("--tasks PATH"), r.err)
    }
    XCTAssertFalse(Files.exists(dir + "/.sluice"), "nothing written")
  }
}
