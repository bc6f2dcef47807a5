import FoundationEssentials
import Glibc

/// `sluice sbatch`: a drop-in for `sbatch`. It runs sbatch with the user's
/// arguments, environment and stdin (adding only `--parsable` and, when nothing can
/// notice it, the run's tag in the job name), prints what sbatch would have printed,
/// returns sbatch's exit code, and records a tracked run that later ticks (or
/// `sluice runs --sync`) follow like any other. The decisions live in `SbatchOptions`.
///
/// Where the record goes: the project found the usual way (`sluice.toml` in the
/// current directory, `.sluice/` beside its tasks file). Without a project the same
/// rules give `./.sluice/`, which is created: a drop-in must not refuse to submit,
/// and the runs are then found by running `sluice` in the same directory.
///
/// Recording never fails a submission sbatch accepted: any problem (bad
/// `sluice.toml`, lock held, disk full) is a warning on stderr and the exit code stays
/// sbatch's. A rejected submission (no job id) records nothing: there is no job to track.
enum SbatchCommand {
  static func run(
    _ args: [String], environment: [String: String], output: Output, runner: CommandRunning, clock: Clock,
    stdin: () -> Data = { (try? Files.readAll(0, name: "standard input")) ?? Data() }
  ) -> Int32 {
    let line: SbatchCommandLine
    do { line = try SbatchOptions.parseCommandLine(args) } catch {
      output.error("sluice sbatch: \(error)")
      return 2
    }
    let ctx = CLIContext(
      args: ParsedArguments(), environment: environment, output: output, runner: runner, clock: clock)
    let config = try? ctx.config()
    // The user's environment goes to sbatch untouched (SlurmCLI would set
    // SLURM_TIME_FORMAT, which changes what sbatch prints and reaches the job).
    let locator = SlurmCLI(runner: runner, environment: environment, binDir: config?.binDir)
    guard let sbatch = locator.locate("sbatch") else {
      output.error(
        "sluice sbatch: sbatch not found in [slurm] bin_dir, PATH or \(SlurmCLI.fallbackDirs.joined(separator: ", "))"
      )
      return 127
    }
    var input: Data?
    var scriptText: String?
    if let s = line.script {
      scriptText = (try? Files.read(Files.absolute(s, relativeTo: ctx.cwd))).map {
        String(decoding: $0, as: UTF8.self)
      }
    } else if line.last("wrap") == nil && !line.asksForInformation {
      let data = stdin()
      input = data
      scriptText = String(decoding: data, as: UTF8.self)
    }
    let plan = SbatchOptions.plan(
      line, scriptText: scriptText, environment: environment, cwd: ctx.cwd, tag: Engine.newTag())
    // sbatch is never cut short: killing it mid-submission would leave a job nobody knows.
    let timeout: Double = plan.waits ? 400 * 86400 : 7 * 86400
    let result: CommandResult
    do {
      result = try runner.run(
        CommandRequest(
          argv: [sbatch] + plan.argv, environment: environment, stdin: input, timeout: timeout,
          outputLimit: 256 << 20))
    } catch {
      output.error("sluice sbatch: cannot run \(sbatch): \(error)")
      return 126
    }
    if !result.stderr.isEmpty { output.err(result.stderrText) }
    let shown = SbatchOptions.translate(stdout: result.stdoutText, userParsable: plan.userParsable)
    if !shown.text.isEmpty { output.out(shown.text) }
    if plan.passThrough { return result.exitCode }

    var submitted = shown.submitted
    if submitted == nil && plan.quiet && result.succeeded {
      submitted = findQuiet(
        plan, cli: SlurmCLI(runner: runner, environment: environment, binDir: config?.binDir))
      if submitted == nil {
        output.error(
          "sluice sbatch: warning: with -Q sbatch prints no job id"
            + (plan.tag == nil
              ? " and the job name is the user's" : " and no job named \(plan.jobName) was found")
            + "; the job is not tracked")
        return result.exitCode
      }
    }
    guard let job = submitted else {
      if result.succeeded {
        output.error("sluice sbatch: warning: sbatch printed no job id; the job is not tracked")
      }
      return result.exitCode
    }
    do {
      try record(plan, job: job, stdinScript: plan.source == .stdin ? input : nil, ctx: ctx)
    } catch {
      output.error("sluice sbatch: warning: job \(job.jobID) was submitted but not recorded: \(error)")
    }
    return result.exitCode
  }

  /// With `-Q` sbatch prints nothing; a tagged job is found by its unique name (in any
  /// state: a short job may have ended already).
  static func findQuiet(_ plan: SbatchPlan, cli: SlurmCLI) -> SubmitResult? {
    guard plan.tag != nil else { return nil }
    let argv =
      ["squeue", "-h", "-t", "all", "--name=\(plan.jobName)", "-o", "%i"]
      + (plan.clusters.map { ["--clusters=\($0)"] } ?? [])
    guard let r = try? cli.run(argv, timeout: 60), r.succeeded else { return nil }
    let ids = r.stdoutText.split(separator: "\n").compactMap { JobID.parse(String($0))?.base }
    guard let id = ids.first, ids.allSatisfy({ $0 == id }) else { return nil }
    let cluster = plan.clusters.flatMap { $0.contains(",") ? nil : $0 }
    return SubmitResult(jobID: id, cluster: cluster)
  }

  static func record(_ plan: SbatchPlan, job: SubmitResult, stdinScript: Data?, ctx: CLIContext) throws {
    let store = try ctx.store()
    try store.prepare()
    let lock = store.lock()
    do { try lock.acquire(command: "sbatch", wait: 30, clock: ctx.clock) } catch let e as LockError {
      throw SluiceError.locked(e)
    }
    defer { lock.release() }
    var state = try store.loadActive()
    let stamp = Timestamps.iso(ctx.clock.now())
    let sweep = try Commands.ensureSweep(plan.sweep, &state, now: stamp)
    let prefix = try Commands.uniqueRunID(
      Shell.sanitizeName(plan.runName, max: 48) + "-\(job.jobID)", state, store)
    var runs = SbatchOptions.runs(
      plan, jobID: job.jobID, idPrefix: prefix, user: Backends.user(ctx.environment), now: stamp)
    if let data = stdinScript {
      let path = store.scriptsDir + "/sbatch-\(prefix).sh"
      try Files.writeAtomically(path, data, mode: ctx.config().fileMode)
      for i in runs.indices { runs[i].scriptPath = path }
    }
    for i in runs.indices { runs[i].sweep = sweep }
    state.runs += runs
    let events = runs.map {
      Event(time: stamp, kind: "submitted", run: $0.id, jobID: $0.jobID, message: "sluice sbatch")
    }
    try store.appendEvents(events, state: &state)
    try store.save(&state)
    let what = runs.count == 1 ? "run \(runs[0].id)" : "\(runs.count) runs \(prefix)_*"
    try? store.appendLog(
      "## \(stamp) sbatch\n- submitted job \(job.jobID) (\(what)\(sweep.map { ", sweep \($0)" } ?? "")): \(plan.command)\n\n"
    )
  }
}
