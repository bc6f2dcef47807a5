import FoundationEssentials
import Glibc

/// Errors that end a command with a specific exit code.
public enum SluiceError: Error, CustomStringConvertible {
  case sentinel(path: String)
  case tasks(DiagnosticsError)
  case config(DiagnosticsError)
  case locked(LockError)
  case slurmUnavailable(String)
  case usage(String)
  case notFound(String)
  /// The tasks file is missing or cannot be read.
  case noTasksFile(String)
  case failed(String)

  public var description: String {
    switch self {
    case .sentinel(let p):
      return "\(p) contains \(TasksDocument.sentinel): nothing is submitted until it is removed"
    case .tasks(let d): return d.description
    case .config(let d): return d.description
    case .locked(let l): return l.description
    case .slurmUnavailable(let m): return m
    case .usage(let m): return m
    case .notFound(let m): return m
    case .noTasksFile(let m): return m
    case .failed(let m): return m
    }
  }

  public var exitCode: Int32 {
    switch self {
    case .sentinel: return 3
    case .tasks: return 65
    case .config: return 78
    case .locked: return 75
    case .slurmUnavailable: return 69
    case .usage: return 2
    case .notFound: return 1
    case .noTasksFile: return 66
    case .failed: return 1
    }
  }
}

public struct TickOptions: Sendable {
  public var dryRun = false
  public var testOnly = false
  /// Only learn states and write markers back; expand and submit nothing.
  public var syncOnly = false
  public init(dryRun: Bool = false, testOnly: Bool = false, syncOnly: Bool = false) {
    self.dryRun = dryRun
    self.testOnly = testOnly
    self.syncOnly = syncOnly
  }
}

/// What one tick did.
public struct TickReport: Sendable {
  public var plan: Plan?
  public var submitted: [(run: String, jobID: String)] = []
  public var submissions: [(tag: String, jobID: String, runs: Int)] = []
  public var finished: [(run: String, state: RunState, exitCode: Int?)] = []
  public var submitErrors: [(run: String, message: String, transient: Bool)] = []
  public var retried: [String] = []
  public var expanded: [String] = []
  public var adopted: [String] = []
  public var requeued: [String] = []
  /// Runs whose state (or what is known of them) changed in the sync.
  public var transitions = 0
  public var markers: WriteBackReport = WriteBackReport()
  public var warnings: [String] = []
  /// Each submission's script, and an array's run table (see `ScriptRenderer.table`).
  public var scripts: [(tag: String, text: String, table: String?)] = []
  public var validations: [(tag: String, ok: Bool, message: String)] = []
  public var calls: [String: Int] = [:]
  public var lockRecovered: LockHolder?
  public var backend: String = ""
  public var inFlight: Int = 0
  public var queued: Int = 0

  public var changed: Bool {
    !submitted.isEmpty || !finished.isEmpty || !submitErrors.isEmpty || !retried.isEmpty || !expanded.isEmpty
      || !adopted.isEmpty || !markers.applied.isEmpty || !requeued.isEmpty || transitions > 0
  }
}

/// Runs the cycle: read, sync, expand, plan, submit, write back, record.
public final class Engine {
  public let paths: ProjectPaths
  public let config: Config
  public let backend: Backend
  public let clock: Clock
  public let store: Store
  public var templateSearch: [String]
  public var gpusFreeOverride: Int?

  public init(paths: ProjectPaths, config: Config, backend: Backend, clock: Clock = SystemClock()) {
    self.paths = paths
    self.config = config
    self.backend = backend
    self.clock = clock
    self.store = Store(dir: paths.stateDir, fileMode: config.fileMode, dirMode: config.dirMode)
    self.templateSearch = [paths.projectDir + "/templates"] + Engine.installedTemplateDirs()
  }

  static func installedTemplateDirs() -> [String] {
    var dirs: [String] = []
    // Beside the executable as installed (bin/../share), found from the kernel's own
    // record of it: argv[0] may be a bare name found on PATH.
    if let exe = Path.executable() {
      dirs.append(Path.normalize(Path.dirname(exe) + "/../share/sluice/templates"))
    }
    dirs.append("/usr/local/share/sluice/templates")
    dirs.append("/usr/share/sluice/templates")
    return dirs
  }

  public func loadTasks() throws -> TasksDocument {
    let data: Data
    do { data = try Files.read(paths.tasksFile) } catch let e as FileError {
      throw SluiceError.noTasksFile(
        "\(e.path): cannot read the tasks file; create it or pass --tasks PATH (\(e.message))")
    }
    do { return try TasksParser.parse(data, path: displayPath(paths.tasksFile)) } catch let d
      as DiagnosticsError
    {
      throw SluiceError.tasks(d)
    }
  }

  func displayPath(_ p: String) -> String {
    let cwd = Path.currentDirectory()
    if p.hasPrefix(cwd + "/") { return String(p.dropFirst(cwd.count + 1)) }
    return p
  }

  /// Finds a template by name: the project's templates/, then installed ones,
  /// then the built-in one for `sbatch.sh`.
  public func template(named name: String?) throws -> (text: String, name: String) {
    let n = name ?? "sbatch.sh"
    for dir in templateSearch {
      let p = dir + "/" + n
      // Saved with Windows line ends, its lines are made Unix ones: sbatch refuses
      // a script with "\r\n" in it, and bash reads the "\r" into each command.
      if Files.exists(p) { return (try Files.readText(p).lines().joined(separator: "\n"), displayPath(p)) }
    }
    if n == "sbatch.sh" { return (Template.builtin, "built-in sbatch.sh") }
    throw SluiceError.failed(
      "template '\(n)' not found in \(templateSearch.joined(separator: ", ")); add it or remove '- template:'"
    )
  }

  public var renderContext: RenderContext {
    RenderContext(
      logsDir: paths.logsDir, exitsDir: store.exitsDir, scriptsDir: store.scriptsDir,
      projectDir: paths.projectDir, gpuFlag: config.gpuFlag, clusters: config.clusters)
  }

  public func lock(_ command: String, wait: Double = 0) throws -> ProjectLock {
    try store.prepare()
    let lock = store.lock()
    do { try lock.acquire(command: command, wait: wait, clock: clock) } catch let e as LockError {
      throw SluiceError.locked(e)
    }
    return lock
  }

  // MARK: the tick

  /// Learns every in-flight run's state and writes markers back, submitting nothing.
  public func sync() throws -> TickReport { try tick(TickOptions(syncOnly: true)) }

  public func tick(_ options: TickOptions = TickOptions()) throws -> TickReport {
    var report = TickReport()
    report.backend = backend.name
    // A sync needs no tasks file: runs recorded by `sluice sbatch` outside a project
    // live in a bare `.sluice/`. (Read before the lock: a bad tasks file must leave
    // no trace, not even a new `.sluice/`.)
    let doc =
      options.syncOnly && !Files.exists(paths.tasksFile)
      ? try TasksParser.parse(Data(), path: displayPath(paths.tasksFile)) : try loadTasks()
    Trace.mark("tasks parsed")
    if doc.hasSentinel { throw SluiceError.sentinel(path: displayPath(paths.tasksFile)) }
    for w in doc.warnings { report.warnings.append(w.description) }
    let lock = try self.lock(options.dryRun ? "plan" : "tick")
    defer { lock.release() }
    report.lockRecovered = lock.recoveredFrom
    Trace.mark("locked")
    // squeue and sinfo run while the state loads (the scheduler's answer is the
    // slow part of a tick), after the lock: a snapshot taken before it could miss
    // jobs that the tick holding it was submitting. A --gpus-free plan needs no
    // scheduler at all, and a project's first tick (no state file) has no runs to
    // look up in the queue: on a login node's few cores, a squeue not needed only
    // takes CPU from the tick and the sbatch it starts.
    if gpusFreeOverride == nil { backend.prefetch(queue: Files.exists(store.activePath)) }
    Trace.mark("prefetch started")
    var state = try store.loadActive()
    // What the state held as loaded: an intent and a receipt stand for the tick's
    // changes only when it changed nothing but the runs it submitted.
    let loaded = (runs: state.runs.count, sweeps: state.sweeps.count)
    var archivedNow = false
    Trace.mark("state loaded")
    defer { Allocator.keepUntilExit(state) }
    // sbatch's own start-up (its libraries and slurm.conf, ~4 ms) overlaps the sync,
    // the expansion and the record when this tick will probably submit; it waits for
    // its script, and is cancelled unused if nothing goes out.
    var early: Submitter? =
      !options.dryRun && !options.testOnly && !options.syncOnly
        && Self.likelySubmits(doc, state, maxConcurrent: config.maxConcurrent)
      ? backend.startSubmitter() : nil
    defer { early?.cancel() }
    if early != nil { Trace.mark("sbatch started") }
    let now = clock.now()
    let stamp = Timestamps.iso(now)
    var events: [Event] = []

    // Sync.
    if state.inFlightCount > 0 {
      let updates = try backend.observe(
        runs: state.runs,
        context: ObserveContext(now: now, exitsDir: store.exitsDir, lostMargin: Double(config.lostMargin)))
      Trace.mark("observed")
      apply(updates, to: &state, now: stamp, report: &report, events: &events)
      Trace.mark("applied")
      if !options.dryRun && !options.testOnly { store.markSynced(now) }
    }
    // Retries for runs that ended in a retryable state.
    for i in state.runs.indices where state.runs[i].state.isTerminal {
      let r = state.runs[i]
      guard config.retryStates.contains(r.state.rawValue), r.attempt < (r.maxRetries ?? config.retryMax)
      else {
        continue
      }
      requeue(&state.runs[i], reason: "retry after \(r.state.rawValue)")
      report.retried.append(r.id)
      events.append(
        Event(time: stamp, kind: "retried", run: r.id, task: r.task, message: "after \(r.state.rawValue)"))
    }
    // The submissions whose runs were saved `submitting`, and sbatch's answer for
    // each it accepted. When it accepted them all, nothing else changed since the
    // save (every other outcome changes runs), and a receipt records the answers.
    var recorded = 0
    var receipts: [SubmissionReceipt] = []
    // The accepted submissions' runs, whose log paths are filled in only if the
    // tick saves them whole (a receipt carries the patterns instead).
    var accepted: [(positions: [Int], job: Int, out: LogPattern, err: LogPattern)] = []
    // The marker write-back started while sbatch works (see `speculate`).
    var speculative: (edits: [MarkerEdit], writing: Background<WriteBackReport>?)?
    defer { _ = try? speculative?.writing?.wait() }  // not left running past the lock
    // The intent file: the tick's submissions on stable storage before sbatch may
    // read a script. With every submission accepted, it stays (beside the
    // receipt) for the next save to fold into `active.json`.
    var intentPath: String?
    // How the sweeps made this tick were filled: the intent records such runs by
    // their grid.
    var fills: [String: GridFill] = [:]
    if !options.syncOnly {
      report.warnings += Self.unrecordedInProgress(doc, state, path: displayPath(paths.tasksFile)).map(
        \.description)
      var archived: [RunSummary]?  // read only if some reset task has archived failures
      // A task reset from [!] to [ ] by a person: its failed runs go again.
      for task in doc.runnableTasks {
        guard let sweep = state.sweeps.first(where: { $0.task == task.id }) else { continue }
        let bad = sweep.archived.filter {
          RunState(rawValue: $0.key).map { $0.isTerminal && $0 != .completed } ?? false
        }
        let activeBad = state.runs.filter {
          $0.sweep == sweep.id && $0.state.isTerminal && $0.state != .completed
        }
        if bad.isEmpty && activeBad.isEmpty { continue }
        for i in state.runs.indices
        where state.runs[i].sweep == sweep.id && state.runs[i].state.isTerminal
          && state.runs[i].state != .completed
        {
          requeue(&state.runs[i], reason: "task reset to [ ]")
          report.requeued.append(state.runs[i].id)
        }
        if !bad.isEmpty {
          if archived == nil { archived = try store.allSummaries(active: state) }
          for s in archived!
          where s.sweep == sweep.id && s.state.isTerminal && s.state != .completed
            && !state.runs.contains(where: { $0.id == s.id })
          {
            if var run = try store.unarchive(s.id, active: &state),
              let i = state.runs.firstIndex(where: { $0.id == run.id })
            {
              requeue(&run, reason: "task reset to [ ]")
              state.runs[i] = run
              report.requeued.append(run.id)
            }
          }
        }
      }
      Trace.mark("retries and resets")
      // Expand.
      report.expanded = Expander.expand(document: doc, state: &state, config: config, now: now, fills: &fills)
      for s in report.expanded {
        let n = state.runs.count { $0.sweep == s }
        events.append(Event(time: stamp, kind: "sweep_created", task: s, message: "\(n) runs"))
      }
      // Keep queue order = tasks-file order (stable for ad-hoc runs).
      let order = Dictionary(uniqueKeysWithValues: doc.tasks.enumerated().map { ($1.id, $0) })
      var queuedAt: [(order: Int, at: Int)] = []
      for i in state.runs.indices where state.runs[i].state == .queued {
        queuedAt.append((order[state.runs[i].task ?? ""] ?? Int.max, i))
      }
      queuedAt.sort { ($0.order, $0.at) < ($1.order, $1.at) }
      // Only queued runs of tasks that may run now go out (ad-hoc runs always may).
      // Positions, not copies: a Run is big, and a sweep may have thousands.
      let current = doc.currentPhase
      var mayRun: [String: Bool] = [:]  // by task: a sweep's runs all ask the same
      let eligible = queuedAt.map(\.at).filter { i in
        guard let id = state.runs[i].task else { return true }
        if let known = mayRun[id] { return known }
        let ok =
          doc.task(id: id).map { t in
            t.phase == current && !t.marker.isFinished && doc.blocker(of: t) == nil
          } ?? false
        mayRun[id] = ok
        return ok
      }
      Trace.mark("expanded and ordered")
      // Capacity and plan.
      let partitions = Array(
        Set(eligible.map { state.runs[$0].resources.partition ?? config.defaults.partition })
      )
      .sorted { ($0 ?? "") < ($1 ?? "") }
      var capacity: CapacityInput
      if let free = gpusFreeOverride {
        capacity = CapacityInput(detectedGPUs: free, source: "--gpus-free")
      } else {
        capacity = try backend.capacity(
          partitions: partitions.isEmpty ? [config.defaults.partition] : partitions)
      }
      Trace.mark("capacity")
      var items: [PlanItem] = []
      items.reserveCapacity(eligible.count + state.runs.count)
      func item(_ i: Int) -> PlanItem {
        PlanItem(id: state.runs[i].id, state: state.runs[i].state, slots: state.runs[i].resources.slots)
      }
      for i in state.runs.indices where state.runs[i].state.isInFlight { items.append(item(i)) }
      for i in eligible { items.append(item(i)) }
      let plan = Planner.plan(
        items: items, capacity: capacity,
        limits: PlannerLimits(
          maxConcurrent: config.maxConcurrent, maxPending: config.maxPending,
          maxSubmitPerTick: config.maxSubmitPerTick))
      report.plan = plan
      Trace.mark("planned")

      // Submit.
      var index = state.indexByID()
      let groups = group(plan.submit.compactMap { index[$0] }, g: plan.g, state: state)
      // Each submission's runs by position in `state.runs`, to update them in place.
      var positions = groups.map(\.positions)
      let submissions = groups.map { g in
        Submission(
          tag: g.tag, first: state.runs[g.positions[0]],
          members: g.positions.map { Submission.Member(state.runs[$0]) },
          isArray: g.isArray, throttle: g.throttle)
      }
      Allocator.keepUntilExit(submissions)  // not freed run by run
      Trace.mark("grouped")
      var stop = false
      // The scripts and run tables (pure functions of the submissions) render, and
      // are saved, on another thread while this one records the runs.
      let context = renderContext
      let templates = submissions.map { s in Result { try template(named: s.first.template) } }
      let saveScripts = !options.dryRun || options.testOnly
      let fileMode = config.fileMode
      let rendering = Background {
        zip(submissions, templates).map { s, t in
          Result { () throws -> (script: String, table: [UInt8]?) in
            let t = try t.get()
            let script = try ScriptRenderer.render(
              s, template: t.text, templateName: t.name, context: context)
            let table = s.isArray ? try ScriptRenderer.table(s, context: context) : nil
            if saveScripts {
              try Self.saveScript(s, script: script, table: table, context: context, fileMode: fileMode)
            }
            return (script, table)
          }
        }
      }
      if !options.dryRun && !options.testOnly && !submissions.isEmpty {
        // Exactly once: every run is `submitting` with its tag on disk before sbatch
        // may read a script (an sbatch started early is waiting for it).
        for (s, at) in zip(submissions, positions) {
          let scriptPath = ScriptRenderer.scriptPath(s, context: context)
          for (k, i) in at.enumerated() {
            state.runs[i].state = .submitting
            state.runs[i].submission = s.tag
            state.runs[i].scriptPath = scriptPath
            state.runs[i].arrayIndex = s.isArray ? k : nil
          }
        }
        if try store.archiveFinished(&state) {  // finished runs archived: positions moved
          archivedNow = true
          index = state.indexByID()
          positions = submissions.map { s in s.members.map { index[$0.id]! } }
        }
        // On stable storage, small: the submissions, their runs told by what a grid
        // changes. Not the whole state (~370 KB for 1,000 runs): its encoding and
        // fsync were most of what sbatch waited for, and written while sbatch worked
        // it still took CPU from sbatch and the controller on a login node's cores.
        intentPath = try store.writeIntent(
          state,
          zip(submissions, positions).map {
            IntentSubmission(tag: $0.tag, isArray: $0.isArray, positions: $1)
          }, fills: archivedNow ? [:] : fills)
        recorded = submissions.count
        Trace.mark("recorded submitting")
      }
      let rendered = try rendering.wait()
      Trace.mark("rendered")
      for ((s, made), at) in zip(zip(submissions, rendered), positions) {
        let script: String
        let table: [UInt8]?
        do {
          (script, table) = try made.get()
        } catch {
          for i in at {
            let r = (id: state.runs[i].id, task: state.runs[i].task)
            state.runs[i].state = .failed
            state.runs[i].submitError = "\(error)"
            state.runs[i].reason = error is FileError ? "script not saved" : "render failed"
            state.runs[i].ended = stamp
            report.submitErrors.append((r.id, "\(error)", false))
            events.append(
              Event(time: stamp, kind: "submit_error", run: r.id, task: r.task, message: "\(error)"))
          }
          continue
        }
        if options.dryRun {
          report.scripts.append((s.tag, script, table.map { String(decoding: $0, as: UTF8.self) }))
        }
        if options.dryRun && !options.testOnly { continue }
        let scriptPath = ScriptRenderer.scriptPath(s, context: context)
        if options.testOnly {
          let v = backend.validate(scriptPath: scriptPath)
          report.validations.append((s.tag, v.ok, v.message))
          continue
        }
        if stop {
          for i in at { revertToQueued(&state, i) }
          continue
        }
        Trace.mark("script saved")
        if speculative == nil { speculative = speculate(doc, state) }
        let outcome: SubmitOutcome
        if let e = early {
          early = nil
          outcome = e.submit(s, script: script, scriptPath: scriptPath)
        } else {
          outcome = backend.submit(s, script: script, scriptPath: scriptPath)
        }
        Trace.mark("submitted")
        switch outcome {
        case .submitted(let jobID, _):
          report.submissions.append((s.tag, String(jobID), s.count))
          let receipt = SubmissionReceipt(
            tag: s.tag, job: jobID, array: s.isArray, submitted: stamp,
            stdout: ScriptRenderer.outputPattern(s, context: renderContext, err: false),
            stderr: ScriptRenderer.outputPattern(s, context: renderContext, err: true))
          receipts.append(receipt)
          let out = LogPattern(receipt.stdout)
          let err = LogPattern(receipt.stderr)
          report.submitted.reserveCapacity(report.submitted.count + at.count)
          events.reserveCapacity(events.count + at.count)
          accepted.append((at, jobID, out, err))
          for i in at {  // in place: a copy of each Run would retain its ~20 strings
            state.runs[i].markSubmitted(job: jobID, array: s.isArray, at: stamp)
            let id = state.runs[i].id
            let job = state.runs[i].jobID
            report.submitted.append((id, job!))
            events.append(
              Event(time: stamp, kind: "submitted", run: id, task: state.runs[i].task, jobID: job))
          }
          Trace.mark("runs updated")
        case .uncertain(let message):
          report.submitErrors.append(
            (s.first.id, "no answer from sbatch: \(message); the tag \(s.tag) is checked next tick", true))
          stop = true
        case .failed(let e):
          let transient = e.kind == .transient
          for i in at {
            let r = (id: state.runs[i].id, task: state.runs[i].task)
            if transient {
              revertToQueued(&state, i)
              state.runs[i].submitError = e.message
            } else {
              state.runs[i].state = .failed
              state.runs[i].submitError = e.message
              state.runs[i].reason = "sbatch rejected the job"
              state.runs[i].ended = stamp
            }
            report.submitErrors.append((r.id, e.message, transient))
            events.append(
              Event(time: stamp, kind: "submit_error", run: r.id, task: r.task, message: e.message))
          }
          if transient { stop = true }
        }
      }
    }
    if options.dryRun || options.testOnly {
      report.calls = backend.callCounts
      return report
    }
    // Write back markers: the tasks file is the person's, so it is synced before
    // its rename (slow), on another thread while the run state is written.
    let edits = Expander.markerEdits(document: doc, state: state)
    let markers: Background<WriteBackReport>?
    if let guessed = speculative?.edits, let writing = speculative?.writing {
      // Started while sbatch worked, on the guess that it would accept every
      // submission; where it did not, the guess is put right.
      markers =
        edits == guessed
        ? writing
        : Background {
          let first = try writing.wait()
          return WriteBack.merge(
            first, try WriteBack.write(WriteBack.correction(guessed, edits), document: doc))
        }
    } else {
      markers = edits.isEmpty ? nil : Background { try WriteBack.write(edits, document: doc) }
    }
    defer { _ = try? markers?.wait() }  // never leave it running past the lock, even on an error
    report.inFlight = state.inFlightCount
    report.queued = state.count(in: .queued)
    // Every submission accepted, and nothing else changed since the load: no run
    // synced, retried, reset or archived, every run and sweep made by the expansion
    // in a submission. Then the intent (the runs) and a receipt (sbatch's answers)
    // are the tick's whole record, and the next save folds them into `active.json`.
    var receiptOnly =
      recorded > 0 && receipts.count == recorded && !archivedNow && store.recoveredIntents == 0
      && report.transitions == 0 && report.finished.isEmpty && report.adopted.isEmpty
      && report.requeued.isEmpty && report.retried.isEmpty
    if receiptOnly {
      let submitted = accepted.flatMap(\.positions)
      let new = submitted.filter { $0 >= loaded.runs }.count
      var sweeps = Set<String>()
      var last: String?
      for i in submitted where i >= loaded.runs && state.runs[i].sweep != last {
        last = state.runs[i].sweep
        if let id = last { sweeps.insert(id) }
      }
      receiptOnly =
        new == state.runs.count - loaded.runs
        && state.sweeps[loaded.sweeps...].allSatisfy { sweeps.contains($0.id) }
    }
    if !receiptOnly {
      for a in accepted {
        for i in a.positions { state.runs[i].setLogPaths(job: a.job, out: a.out, err: a.err) }
      }
    }
    // The events segment is written on another thread while this one saves the runs
    // (or only their receipt, when nothing else changed since they were recorded)
    // and appends to the log.
    var eventsWriting: Background<Void>?
    defer { _ = try? eventsWriting?.wait() }  // not left running past the lock, even on an error
    // A load that brought runs back from intents is folded into `active.json`
    // (the intents go once it is on stable storage).
    if report.changed || markers != nil || store.recoveredIntents > 0 {
      // Whole-file writes, not forced to disk (but the save that replaces this tick's
      // intent): a machine crash soon after may bring back the previous versions,
      // which the next tick rebuilds from Slurm (runs `submitting` are adopted by
      // tag). Archive segments are synced regardless.
      store.number(&events, state: &state)
      let numbered = events
      let store = self.store
      eventsWriting = Background { try store.writeEvents(numbered, durability: .ordered) }
      if receiptOnly {
        try store.writeReceipt(Receipt(eventSeq: state.eventSeq, submissions: receipts))
      } else {
        // Synced when this tick wrote an intent: it goes only once a state listing
        // its runs is on stable storage.
        try store.save(&state, durability: intentPath == nil ? .ordered : .synced)
        if let p = intentPath { Files.remove(p) }
      }
      Trace.mark("state saved")
    }
    if let markers {
      report.markers = try markers.wait()
      for s in report.markers.skipped {
        report.warnings.append("\(displayPath(paths.tasksFile)): \(s.reason); left alone")
      }
      Trace.mark("markers written")
    }
    if report.changed {
      try store.appendLog(logEntry(report, stamp: stamp), durability: .ordered)
      Trace.mark("log written")
    }
    try eventsWriting?.wait()
    Trace.mark("events written")
    report.calls = backend.callCounts
    report.warnings += backend.warnings
    Trace.mark("tick done")
    return report
  }

  /// Saves a submission's script, its run table and its log folder, before the job
  /// can exist (the job reads the table when it starts). Not forced to disk: on NFS
  /// the close sends them to the server, which is where the job reads them from.
  static func saveScript(
    _ s: Submission, script: String, table: [UInt8]?, context: RenderContext, fileMode: mode_t
  ) throws {
    if let table {
      try table.withUnsafeBytes {
        try Files.writeAtomically(
          ScriptRenderer.tablePath(s, context: context), pieces: [$0], mode: fileMode, durability: .ordered)
      }
    }
    // The script as it went out (sbatch reads a long one from here, a short one
    // from stdin).
    try Files.writeAtomically(
      ScriptRenderer.scriptPath(s, context: context), text: script, mode: 0o700 & fileMode | 0o100,
      durability: .ordered)
    try Files.makeDirectory(ScriptRenderer.logFolder(s.first, context: context), mode: 0o755)
  }

  /// Starts the marker write-back for `state` with its runs saved `submitting`,
  /// which is the write-back of a tick whose every submission sbatch accepts: on a
  /// thread of its own while sbatch works, not after its answer (the tasks file is
  /// synced before its rename, ~1 ms here). The runs are on disk `submitting`
  /// already, so the `[/]` it writes is true even if the tick dies before the answer.
  func speculate(_ doc: TasksDocument, _ state: ActiveState) -> (
    edits: [MarkerEdit], writing: Background<WriteBackReport>?
  ) {
    let edits = Expander.markerEdits(document: doc, state: state)
    return (edits, edits.isEmpty ? nil : Background { try WriteBack.write(edits, document: doc) })
  }

  /// Tasks with a run spec marked `[/]` of which sluice has no runs (marked by hand,
  /// or the state folder was removed): no tick submits them, as it would not know
  /// whether their jobs are still out, so each gets a warning saying what to do.
  /// Most often the task was renamed (its id is made from its title): sluice's runs
  /// of a task no longer in the file are named, with the `- id:` that keeps them.
  static func unrecordedInProgress(_ doc: TasksDocument, _ state: ActiveState, path: String) -> [Diagnostic] {
    let unlisted = state.sweeps.compactMap(\.task).filter { id in !doc.tasks.contains { $0.id == id } }
    let renamed =
      unlisted.isEmpty
      ? ""
      : "; if it was renamed from "
        + unlisted.prefix(3).map { "'\($0)'" }.joined(separator: " or ")
        + " (sluice has runs of that task, no longer in the file), add '- id: \(unlisted[0])' under it to keep them"
    return doc.tasks.filter { t in
      t.marker == .inProgress && t.spec != nil && !state.sweeps.contains { $0.task == t.id }
    }.map { t in
      Diagnostic(
        file: path, line: t.line, severity: .warning,
        message:
          "task '\(t.id)' is marked [/] but sluice has no runs of it, so no tick will submit it; "
          + "mark it [ ] to have sluice run it (if its jobs may still be out, check squeue first), or [x] if it is done"
          + renamed
      )
    }
  }

  /// Whether a tick will probably submit, judged before its sync and plan: a runnable
  /// task with no runs yet, or a queued run of a task that may run now (or of none),
  /// with room under `max_concurrent`. It only decides whether sbatch is started
  /// early: a wrong guess costs a cancelled sbatch, or the overlap.
  static func likelySubmits(_ doc: TasksDocument, _ state: ActiveState, maxConcurrent: Int?) -> Bool {
    if let m = maxConcurrent, state.inFlightCount >= m { return false }
    if !Expander.unexpanded(doc, state).isEmpty { return true }
    let ids = Set(doc.runnableTasks.map(\.id))
    return state.runs.contains { r in r.state == .queued && (r.task.map(ids.contains) ?? true) }
  }

  func revertToQueued(_ state: inout ActiveState, _ i: Int?) {
    guard let i else { return }
    state.runs[i].state = .queued
    state.runs[i].submission = nil
  }

  func requeue(_ run: inout Run, reason: String) {
    _ = Engine.requeueRun(&run, reason: reason)
  }

  func apply(
    _ updates: [RunUpdate], to state: inout ActiveState, now: String, report: inout TickReport,
    events: inout [Event]
  ) {
    // Updates come mostly in the runs' own order (a backend walks the runs): look a
    // little ahead of the last match before building an index of all ids.
    var index: [String: Int]?
    var next = 0
    func position(_ id: String) -> Int? {
      var k = next
      while k < state.runs.count && k < next + 32 {
        if state.runs[k].id == id {
          next = k + 1
          return k
        }
        k += 1
      }
      if index == nil { index = state.indexByID() }
      return index![id]
    }
    for u in updates {
      guard let i = position(u.runID) else { continue }
      // In place: most updates of a tick change nothing, and a Run is big to copy.
      let changed = Self.apply(u, to: &state.runs[i], now: now)
      if changed.adopted {
        report.adopted.append(u.runID)
        events.append(
          Event(time: now, kind: "adopted", run: u.runID, task: state.runs[i].task, jobID: u.jobID))
      }
      if changed.requeued {
        report.requeued.append(u.runID)
        continue
      }
      if changed.any { report.transitions += 1 }
      if u.state.isTerminal {
        let r = state.runs[i]
        report.finished.append((r.id, r.state, r.exitCode))
        let kind = u.state == .completed ? "completed" : (u.state == .lost ? "lost" : "failed")
        events.append(
          Event(
            time: now, kind: kind, run: r.id, task: r.task, jobID: r.jobID, state: r.state.rawValue,
            exitCode: r.exitCode, message: u.reason))
      }
    }
  }

  /// Applies one update to a run; says whether anything changed, and whether a
  /// `submitting` run was adopted or requeued.
  static func apply(_ u: RunUpdate, to r: inout Run, now: String) -> (
    any: Bool, adopted: Bool, requeued: Bool
  ) {
    // Fields set in place through inout, not key paths (a tick applies one update
    // per run in flight).
    var any = false
    func set<T: Equatable>(_ field: inout T, _ value: T) {
      if field != value {
        field = value
        any = true
      }
    }
    var adopted = false
    if r.state == .submitting {
      if u.state == .queued {
        r.state = .queued
        r.submission = nil
        return (true, false, true)
      }
      adopted = true
      if r.submitted == nil { r.submitted = now }
    }
    if let j = u.jobID { set(&r.jobID, j) }
    if let a = u.arrayJobID { set(&r.arrayJobID, a) }
    if let x = u.arrayIndex { set(&r.arrayIndex, x) }
    if let s = u.started { set(&r.started, s) }
    if u.state == .running && r.started == nil { set(&r.started, now) }
    if u.reason != nil { set(&r.reason, u.reason) }
    if u.state == .unknown {
      if r.missingSince == nil { set(&r.missingSince, now) }
    } else if r.missingSince != nil {
      set(&r.missingSince, nil)
    }
    set(&r.state, u.state)
    if u.state.isTerminal {
      set(&r.exitCode, u.exitCode)
      set(&r.signal, u.signal)
      set(&r.ended, u.ended ?? now)
    }
    return (any || adopted, adopted, false)
  }

  /// A submission's runs before their copies are made: positions in `state.runs`.
  struct Group {
    var tag: String
    var positions: [Int]
    var isArray: Bool
    var throttle: Int?
  }

  /// Packs the runs at `runs` (positions in `state.runs`) into submissions:
  /// consecutive runs of one sweep with the same resources and script settings
  /// become one array (unless arrays are off), in chunks of `MaxArraySize`.
  func group(_ runs: [Int], g: Int, state: ActiveState) -> [Group] {
    var out: [Group] = []
    // Compared in place (a copy of a Run retains its ~20 strings, and a sweep may
    // have thousands).
    func sameScript(_ i: Int, _ j: Int) -> Bool {
      state.runs[i].sweep == state.runs[j].sweep && state.runs[i].resources == state.runs[j].resources
        && state.runs[i].template == state.runs[j].template && state.runs[i].env == state.runs[j].env
        && state.runs[i].setup == state.runs[j].setup && state.runs[i].workdir == state.runs[j].workdir
    }
    let maxArray = max(1, backend.maxArraySize ?? 1001)
    // Sweeps with work queued or in flight, for each array's share of g.
    var sweepsWithWork = Set<String>()
    for i in state.runs.indices where state.runs[i].state.isInFlight || state.runs[i].state == .queued {
      sweepsWithWork.insert(state.runs[i].sweep ?? "")
    }
    // Runs [from, to) of `runs` share one script.
    var from = 0
    var to = 0
    func flush() {
      guard to > from else { return }
      let first = runs[from]
      let arrays = config.array && (state.runs[first].array ?? true) && to - from > 1
      if arrays {
        var start = from
        while start < to {
          let chunk = Array(runs[start..<min(to, start + maxArray)])
          // The sweep's share of g: g split over the sweeps with work queued or in flight.
          let sweepsActive = sweepsWithWork.union([state.runs[first].sweep ?? ""]).count
          let share = max(1, g / max(1, sweepsActive))
          out.append(Group(tag: Self.newTag(), positions: chunk, isArray: chunk.count > 1, throttle: share))
          start += maxArray
        }
      } else {
        for i in runs[from..<to] { out.append(Group(tag: Self.newTag(), positions: [i], isArray: false)) }
      }
      from = to
    }
    for k in runs.indices {
      if k > from && !sameScript(runs[k - 1], runs[k]) { flush() }
      to = k + 1
    }
    flush()
    return out
  }

  public static func newTag() -> String {
    var s = "sl"
    for _ in 0..<10 { s.append(String(UInt8.random(in: 0..<16), radix: 16)) }
    return s
  }

  func logEntry(_ r: TickReport, stamp: String) -> String {
    var lines = ["## \(stamp) tick (\(r.backend))"]
    if let p = r.plan {
      lines.append(
        "- capacity: g=\(p.g) (\(p.gSource)), r=\(p.r), q=\(p.q), max_new_runs=\(p.maxNewRuns), bound by \(p.boundBy)"
      )
    }
    if !r.submitted.isEmpty {
      lines.append(
        "- submitted \(r.submitted.count): "
          + r.submitted.prefix(20).map { "\($0.run) (\($0.jobID))" }.joined(separator: ", ")
          + (r.submitted.count > 20 ? ", ..." : ""))
    }
    let done = r.finished.filter { $0.state == .completed }
    if !done.isEmpty {
      lines.append("- completed \(done.count): " + done.prefix(20).map(\.run).joined(separator: ", "))
    }
    let bad = r.finished.filter { $0.state != .completed }
    if !bad.isEmpty {
      lines.append(
        "- failed \(bad.count): "
          + bad.prefix(20).map {
            "\($0.run) \($0.state.rawValue)" + ($0.exitCode.map { " exit \($0)" } ?? "")
          }.joined(separator: ", "))
    }
    for e in r.submitErrors.prefix(10) {
      lines.append("- submit error \(e.run)\(e.transient ? " (transient)" : ""): \(e.message)")
    }
    if !r.retried.isEmpty { lines.append("- retried: " + r.retried.joined(separator: ", ")) }
    if !r.adopted.isEmpty { lines.append("- adopted after a crash: " + r.adopted.joined(separator: ", ")) }
    for e in r.markers.applied { lines.append("- marked [\(e.to.rawValue)] \(e.title)") }
    if lines.count <= 2 && r.transitions > 0 {
      lines.append("- \(r.transitions) run(s) changed state (e.g. pending → running)")
    }
    return lines.joined(separator: "\n") + "\n\n"
  }
}

extension Backend {
  public var maxArraySize: Int? { (self as? ArrayLimited)?.arrayLimit }
}

/// Backends that cap job arrays (Slurm's `MaxArraySize`).
public protocol ArrayLimited {
  var arrayLimit: Int? { get }
}
