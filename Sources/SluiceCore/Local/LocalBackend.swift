import FoundationEssentials
import Glibc

/// Runs the plan on this machine: each run detached in its own session, pinned
/// to GPUs with CUDA_VISIBLE_DEVICES, its time limit enforced with timeout(1),
/// and its pid, start time and exit status kept in `.sluice/local/` so a later
/// tick knows how it ended, even after a reboot.
public final class LocalBackend: Backend {
  public let name = "local"
  public private(set) var callCounts: [String: Int] = [:]
  let dir: String
  let runner: CommandRunning
  let environment: [String: String]
  let grace: Int
  let fileMode: mode_t

  public init(
    stateDir: String, runner: CommandRunning, environment: [String: String], grace: Int = 10,
    fileMode: mode_t = 0o600
  ) {
    self.dir = stateDir + "/local"
    self.runner = runner
    self.environment = environment
    self.grace = grace
    self.fileMode = fileMode
  }

  struct JobRecord: Codable {
    var version: Int
    var pid: Int32
    var start: UInt64
    var gpus: [String]
    var run: String
    var time: Int?
    /// The run's attempt (absent in records written before it existed: 0).
    var attempt: Int?
  }

  /// GPU indices: CUDA_VISIBLE_DEVICES if set, else nvidia-smi, else none.
  public func gpuIndices() -> [String] {
    if let v = environment["CUDA_VISIBLE_DEVICES"] {
      return v.split(separator: ",").map { $0.trimmed(newlines: false) }.filter {
        !$0.isEmpty && $0 != "-1" && $0 != "NoDevFiles"
      }
    }
    callCounts["nvidia-smi", default: 0] += 1
    guard
      let r = try? runner.run(
        CommandRequest(
          argv: ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], environment: environment,
          timeout: 10)),
      r.succeeded
    else { return [] }
    return r.stdoutText.split(separator: "\n").map { $0.trimmed(newlines: false) }.filter {
      !$0.isEmpty && Int($0) != nil
    }
  }

  public func capacity(partitions: [String?]) throws -> CapacityInput {
    let gpus = gpuIndices()
    if !gpus.isEmpty { return CapacityInput(detectedGPUs: gpus.count, source: "local GPUs (\(gpus.count))") }
    let cores = ProcessInfo.processInfo.activeProcessorCount
    return CapacityInput(detectedGPUs: max(1, cores), source: "local CPU cores (\(cores), no GPUs)")
  }

  func nextJobID() throws -> Int {
    try Files.makeDirectory(dir, mode: 0o700)
    let path = dir + "/seq"
    let n = (Int((try? Files.readText(path))?.trimmed() ?? "") ?? 0) + 1
    try Files.writeAtomically(path, text: "\(n)\n", mode: fileMode)
    return n
  }

  func records() -> [String: JobRecord] {
    var out: [String: JobRecord] = [:]
    for f in Files.list(dir) where f.hasSuffix(".json") {
      if let d = try? Files.read(dir + "/" + f), let r = try? JSONDecoder().decode(JobRecord.self, from: d) {
        out[String(f.dropLast(5))] = r
      }
    }
    return out
  }

  /// Process start time in clock ticks since boot (field 22 of /proc/PID/stat).
  static func processStart(_ pid: Int32) -> UInt64? {
    guard let text = try? Files.readText("/proc/\(pid)/stat"), let close = text.lastIndex(of: ")") else {
      return nil
    }
    let fields = text[text.index(after: close)...].split(separator: " ")
    // fields[0] is state (field 3); start time is field 22 → index 19.
    guard fields.count > 19 else { return nil }
    if fields[0] == "Z" { return nil }
    return UInt64(fields[19])
  }

  static func alive(_ r: JobRecord) -> Bool {
    guard let s = processStart(r.pid) else { return false }
    return s == r.start
  }

  public func submit(_ s: Submission, script: String, scriptPath: String) -> SubmitOutcome {
    do {
      // Arrays run as one process per index, each with SLURM_ARRAY_TASK_ID set.
      let jobID = try nextJobID()
      let live = records().values.filter(Self.alive)
      var busy = Set(live.flatMap(\.gpus))
      let all = gpuIndices()
      let out = ScriptRendererPaths.pattern(from: scriptPath, submission: s)
      let (outLog, errLog) = (LogPattern(out.out), LogPattern(out.err))
      let job = String(jobID)
      let run = s.first  // resources, folder: the same for every run of a submission
      for (index, member) in s.members.enumerated() {
        let want = run.resources.gpus ?? 0
        var mine: [String] = []
        for g in all where !busy.contains(g) && mine.count < want { mine.append(g) }
        busy.formUnion(mine)
        let key = s.isArray ? "\(jobID)_\(index)" : "\(jobID)"
        var env = environment
        env["SLUICE_LOCAL"] = "1"
        env["SLURM_JOB_ID"] = key
        if s.isArray {
          env["SLURM_ARRAY_TASK_ID"] = String(index)
          env["SLURM_ARRAY_JOB_ID"] = String(jobID)
        }
        if want > 0 || !all.isEmpty { env["CUDA_VISIBLE_DEVICES"] = mine.joined(separator: ",") }
        let stdout = outLog.path(job: job, index: s.isArray ? index : nil)
        let stderr = errLog.path(job: job, index: s.isArray ? index : nil)
        let exitPath = dir + "/\(key).exit"
        var argv = ["/bin/sh", "-c"]
        let seconds = run.resources.time.flatMap(Validate.timeSeconds)
        // A signal to the run's group (`sluice cancel`, or a person's kill) is noted as
        // `signal NAME` once the script has ended, like Slurm's CANCELLED.
        let traps = [("TERM", 143), ("INT", 130), ("HUP", 129)].map { name, code in
          "trap 'printf \"signal \(name)\\n\" > \"$1.tmp\" && mv -f \"$1.tmp\" \"$1\"; exit \(code)' \(name); "
        }.joined()
        let inner =
          traps + (seconds.map { "timeout -s TERM -k \(grace) \($0) " } ?? "")
          + "/bin/bash \"$0\"; c=$?; printf '%s\\n' \"$c\" > \"$1.tmp\" && mv -f \"$1.tmp\" \"$1\""
        argv += [inner, scriptPath, exitPath]
        callCounts["spawn", default: 0] += 1
        // Exactly once: the record exists (pid 0) before the process does, so a tick
        // killed between the two still finds the run's launch next time.
        var rec = JobRecord(
          version: 1, pid: 0, start: 0, gpus: mine, run: member.id, time: seconds, attempt: member.attempt)
        try Files.writeAtomically(dir + "/\(key).json", try JSONEncoder().encode(rec), mode: fileMode)
        let pid = try Spawn.detached(
          argv, environment: env, stdout: stdout, stderr: stderr, directory: run.workdir)
        rec.pid = pid
        rec.start = Self.processStart(pid) ?? 0
        try Files.writeAtomically(dir + "/\(key).json", try JSONEncoder().encode(rec), mode: fileMode)
      }
      return .submitted(jobID: jobID, cluster: nil)
    } catch {
      return .failed(SlurmCommandError(kind: .permanent, command: "local", message: "\(error)"))
    }
  }

  public func observe(runs: [Run], context: ObserveContext) throws -> [RunUpdate] {
    let recs = records()
    var out: [RunUpdate] = []
    for run in runs where run.state.isInFlight {
      let exitBase = context.exitsDir + "/\(run.id).a\(run.attempt)"
      guard let job = run.jobID else {
        // Submitting when a tick died: adopt the launch if one was recorded for this attempt.
        guard
          let (key, rec) = recs.first(where: {
            $0.value.run == run.id && ($0.value.attempt ?? 0) == run.attempt
          })
        else {
          out.append(RunUpdate(runID: run.id, state: .queued))
          continue
        }
        let launched =
          rec.pid != 0 || ExitRecord.read(exitBase).started != nil || Files.exists(dir + "/\(key).exit")
        if launched {
          out.append(RunUpdate(runID: run.id, state: Self.alive(rec) ? .running : .unknown, jobID: key))
        } else if let t = Files.modificationTime(dir + "/\(key).json"),
          context.now.timeIntervalSince1970 - t > 30
        {
          out.append(RunUpdate(runID: run.id, state: .queued, reason: "the launch never happened"))
        }
        // else: the tick died a moment ago, mid-launch; the next tick decides.
        continue
      }
      guard let rec = recs[job] else {
        out.append(RunUpdate(runID: run.id, state: .lost, reason: "no local record for job \(job)"))
        continue
      }
      if Self.alive(rec) {
        out.append(RunUpdate(runID: run.id, state: .running))
        continue
      }
      // Launched by a tick that died before recording the pid: only the exit records can tell.
      if rec.pid == 0 && !Files.exists(dir + "/\(job).exit") && ExitRecord.read(exitBase).exit == nil {
        out.append(
          RunUpdate(runID: run.id, state: ExitRecord.read(exitBase).started != nil ? .running : .unknown))
        continue
      }
      let script = ExitRecord.read(context.exitsDir + "/\(run.id).a\(run.attempt)")
      let wrapText = (try? Files.readText(dir + "/\(job).exit"))?.trimmed()
      let wrap = wrapText.flatMap { Int($0) }
      let signal = wrapText.flatMap { $0.hasPrefix("signal ") ? String($0.dropFirst(7)) : nil }
      let ended = script.exit?.endedEpoch.map { Timestamps.iso(Date(timeIntervalSince1970: $0)) }
      let started = script.started.map { Timestamps.iso(Date(timeIntervalSince1970: $0)) }
      if let w = wrap {
        if rec.time != nil && (w == 124 || w == 137) && script.exit == nil {
          out.append(
            RunUpdate(
              runID: run.id, state: .timeout, exitCode: w, reason: "time limit \(run.resources.time ?? "")",
              started: started))
        } else {
          let code = script.exit?.exitCode ?? w
          out.append(
            RunUpdate(
              runID: run.id, state: code == 0 ? .completed : .failed, exitCode: code, started: started,
              ended: ended))
        }
      } else if run.reason == "cancel requested" {
        out.append(
          RunUpdate(
            runID: run.id, state: .cancelled, exitCode: script.exit?.exitCode, reason: "cancelled",
            started: started))
      } else if let sig = signal {
        out.append(
          RunUpdate(
            runID: run.id, state: .cancelled, exitCode: script.exit?.exitCode,
            reason: "killed by SIG\(sig) (not through sluice)", started: started))
      } else if let e = script.exit {
        out.append(
          RunUpdate(
            runID: run.id, state: e.exitCode == 0 ? .completed : .failed, exitCode: e.exitCode,
            started: started, ended: ended))
      } else {
        out.append(
          RunUpdate(
            runID: run.id, state: .lost, reason: "process \(rec.pid) ended without an exit record",
            started: started))
      }
    }
    return out
  }

  public func validate(scriptPath: String) -> (ok: Bool, message: String) {
    callCounts["bash -n", default: 0] += 1
    guard let r = try? runner.run(CommandRequest(argv: ["/bin/bash", "-n", scriptPath], timeout: 10)) else {
      return (false, "cannot run bash -n")
    }
    return (r.succeeded, r.succeeded ? "bash -n: syntax ok" : r.stderrText)
  }

  public func cancel(_ runs: [Run]) throws -> String {
    let recs = records()
    var pids: [Int32] = []
    for r in runs {
      guard let j = r.jobID, let rec = recs[j], Self.alive(rec) else { continue }
      kill(-rec.pid, SIGTERM)
      pids.append(rec.pid)
    }
    if pids.isEmpty { return "" }
    let deadline = Date().addingTimeInterval(Double(grace))
    while Date() < deadline {
      if pids.allSatisfy({ Self.processStart($0) == nil }) { break }
      usleep(100_000)
    }
    for p in pids where Self.processStart(p) != nil { kill(-p, SIGKILL) }
    return "sent SIGTERM to \(pids.count) process group(s)"
  }
}

/// Output patterns for a submission, derived the same way the renderer does.
enum ScriptRendererPaths {
  static func pattern(from scriptPath: String, submission: Submission) -> (out: String, err: String) {
    // scripts live in <state>/scripts; the render context is rebuilt by the engine,
    // so the patterns come from the script's own #SBATCH lines.
    let text = (try? Files.readText(scriptPath)) ?? ""
    var out = "/dev/null"
    var err = "/dev/null"
    for line in text.lines(omittingEmpty: true) {
      if line.hasPrefix("#SBATCH --output=") { out = String(line.dropFirst("#SBATCH --output=".count)) }
      if line.hasPrefix("#SBATCH --error=") { err = String(line.dropFirst("#SBATCH --error=".count)) }
    }
    return (out, err)
  }
}

/// Starting a process that outlives sluice.
public enum Spawn {
  /// Starts `argv` in a new session with stdin from /dev/null and stdout/stderr to files.
  public static func detached(
    _ argv: [String], environment: [String: String], stdout: String, stderr: String, directory: String?
  ) throws -> Int32 {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for s in [SIGPIPE, SIGTERM, SIGINT, SIGHUP] { sigaddset(&defaults, s) }
    posix_spawnattr_setsigdefault(&attr, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attr, &mask)
    // POSIX_SPAWN_SETSID (0x80 in glibc): a new session, so the run survives the tick.
    posix_spawnattr_setflags(&attr, Int16(0x80 | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
    let envStrings = environment.map { "\($0.key)=\($0.value)" }
    var pid: pid_t = 0
    let rc = withCStrings(argv) { a in
      withCStrings(envStrings) { e in posix_spawn(&pid, argv[0], &actions, &attr, a, e) }
    }
    if rc != 0 { throw CommandRunnerError.spawnFailed(argv[0], rc) }
    return pid
  }
}
