import FoundationEssentials
import Glibc

/// Runs Slurm's programs: argv only, found through `[slurm] bin_dir`, then PATH,
/// then the usual install folders; `SLURM_TIME_FORMAT` set; every call counted
/// and, with `--verbose`, logged with its duration.
public final class SlurmCLI {
  public let runner: CommandRunning
  public let environment: [String: String]
  public let binDir: String?
  public let timeout: Double
  public var verbose: ((String) -> Void)?
  public private(set) var counts: [String: Int] = [:]
  public private(set) var log: [(argv: [String], seconds: Double, exit: Int32)] = []

  public static let fallbackDirs = [
    "/usr/bin", "/usr/local/bin", "/opt/slurm/bin", "/usr/local/slurm/bin", "/opt/slurm/current/bin",
  ]

  public init(runner: CommandRunning, environment: [String: String], binDir: String?, timeout: Double = 30) {
    self.runner = runner
    var env = environment
    env["SLURM_TIME_FORMAT"] = "%Y-%m-%dT%H:%M:%S"
    self.environment = env
    self.binDir = binDir
    self.timeout = timeout
  }

  /// Full path of a Slurm program, or nil.
  public func locate(_ program: String) -> String? {
    var dirs: [String] = []
    if let b = binDir { dirs.append(b) }
    dirs += (environment["PATH"] ?? "").split(separator: ":").map(String.init)
    dirs += Self.fallbackDirs
    for d in dirs where !d.isEmpty {
      let p = d + "/" + program
      if access(p, X_OK) == 0 { return p }
    }
    return nil
  }

  /// A command started in the background; `finish` gives its result and what
  /// `read` made of it, on the command's own thread, if it succeeded.
  public struct Pending<Answer: Sendable>: Sendable {
    let argv: [String]
    /// The program was found (and so started).
    let found: Bool
    let work: Background<(result: CommandResult, answer: Answer?)>
  }

  /// The request for `argv` (program located, call counted unless `counted` is
  /// false), or the not-found error.
  func request(
    _ argv: [String], timeout: Double?, stdin: Data? = nil, lateInput: (@Sendable () -> Data?)? = nil,
    counted: Bool = true
  ) throws -> CommandRequest {
    guard let path = locate(argv[0]) else {
      throw SlurmCommandError(
        kind: .transient, command: argv[0],
        message:
          "\(argv[0]) not found in [slurm] bin_dir, PATH or \(Self.fallbackDirs.joined(separator: ", ")); set bin_dir in sluice.toml"
      )
    }
    if counted { count(argv[0]) }
    return CommandRequest(
      argv: [path] + argv.dropFirst(), environment: environment, stdin: stdin,
      timeout: timeout ?? self.timeout, outputLimit: 256 << 20, lateInput: lateInput)
  }

  func count(_ program: String) { counts[program, default: 0] += 1 }

  /// Counts a command started uncounted, once it is known to be a call.
  func count<Answer>(_ p: Pending<Answer>) { if p.found { count(p.argv[0]) } }

  /// Starts a command on another thread (counted now), so sluice's own work
  /// overlaps with Slurm's answer, which `read` reads there as soon as it comes;
  /// `onStdout` sees the output while it comes.
  public func start<Answer: Sendable>(
    _ argv: [String], timeout: Double? = nil, onStdout: (@Sendable (Data) -> Void)? = nil,
    lateInput: (@Sendable () -> Data?)? = nil, counted: Bool = true,
    read: @escaping @Sendable (CommandResult) -> Answer
  ) -> Pending<Answer> {
    let made = Result {
      var r = try request(argv, timeout: timeout, lateInput: lateInput, counted: counted)
      r.onStdout = onStdout
      return r
    }
    let runner = self.runner
    return Pending(
      argv: argv, found: (try? made.get()) != nil,
      work: Background {
        let r = try runner.run(made.get())
        return (r, r.succeeded ? read(r) : nil)
      })
  }

  /// Waits for a started command and logs it like `run`.
  public func finish<Answer>(_ p: Pending<Answer>) throws -> (result: CommandResult, answer: Answer?) {
    let (r, answer) = try p.work.wait()
    log.append((p.argv, r.duration, r.exitCode))
    verbose?(
      "[slurm] \(Text.fixed(r.duration, digits: 3))s exit \(r.exitCode) (overlapped): "
        + p.argv.map { Shell.quote($0.replacingAll("\u{1f}", with: "\\x1f")) }.joined(
          separator: " "))
    return (r, answer)
  }

  public func run(
    _ argv: [String], timeout: Double? = nil, stdin: Data? = nil, lateInput: (@Sendable () -> Data?)? = nil
  ) throws -> CommandResult {
    let r = try runner.run(request(argv, timeout: timeout, stdin: stdin, lateInput: lateInput))
    log.append((argv, r.duration, r.exitCode))
    verbose?(
      "[slurm] \(Text.fixed(r.duration, digits: 3))s exit \(r.exitCode)\(r.timedOut ? " (timed out)" : ""): "
        + argv.map { Shell.quote($0.replacingAll("\u{1f}", with: "\\x1f")) }.joined(
          separator: " "))
    return r
  }
}

/// Facts about the cluster that change rarely, cached for an hour in the state folder
/// so a tick does not ask `scontrol show config` and `sacctmgr` every time.
struct SlurmFacts: Codable, Equatable {
  var version: Int
  var fetched: Double
  var maxArraySize: Int?
  var minJobAge: Int?
  var messageTimeout: Int?
  var maxSubmitJobs: Int?
  var maxJobs: Int?
  var maxSubmitJobsSource: String?
  var maxJobsSource: String?
  var accounting: Bool?

  /// Read by hand: JSONDecoder costs more than the rest of a quiet tick's setup.
  static func decode(_ data: Data) -> SlurmFacts? {
    try? data.withUnsafeBytes { raw -> SlurmFacts in
      var p = StateCodec.Parser(bytes: raw.bindMemory(to: UInt8.self))
      var f = SlurmFacts(version: 0, fetched: 0)
      var version: Int?
      var fetched: Double?
      try p.object(depth: 0) { p, key in
        switch key {
        case "version": version = try p.int()
        case "fetched": fetched = try p.double()
        case "maxArraySize": f.maxArraySize = try p.int()
        case "minJobAge": f.minJobAge = try p.int()
        case "messageTimeout": f.messageTimeout = try p.int()
        case "maxSubmitJobs": f.maxSubmitJobs = try p.int()
        case "maxJobs": f.maxJobs = try p.int()
        case "maxSubmitJobsSource": f.maxSubmitJobsSource = try p.string()
        case "maxJobsSource": f.maxJobsSource = try p.string()
        case "accounting": f.accounting = try p.bool()
        default: try p.skipValue(depth: 1)
        }
      }
      p.skip()
      guard p.i == p.bytes.count else { throw p.fail("text after the object") }
      f.version = try p.req(version)
      f.fetched = try p.req(fetched)
      return f
    }
  }
}

/// The Slurm backend: one `sinfo`, one `squeue`, one batched `sacct` per tick, and the submissions.
public final class SlurmBackend: Backend, ArrayLimited {
  public let name = "slurm"
  public let cli: SlurmCLI
  let config: Config
  let user: String
  let cachePath: String?
  let clock: Clock
  private var queueCache: QueueIndex?
  /// Problems that did not stop the tick (e.g. accounting unreachable).
  public private(set) var warnings: [String] = []
  private var facts: SlurmFacts?

  public init(cli: SlurmCLI, config: Config, user: String, cachePath: String?, clock: Clock = SystemClock()) {
    self.cli = cli
    self.config = config
    self.user = user
    self.cachePath = cachePath
    self.clock = clock
  }

  public var callCounts: [String: Int] { cli.counts }

  func fail(_ argv: [String], _ r: CommandResult) -> SlurmCommandError {
    if r.timedOut {
      return SlurmCommandError(
        kind: .transient, command: argv[0],
        message: "no answer within \(Int(cli.timeout)) s (is slurmctld up?)", exitCode: r.exitCode)
    }
    return SlurmErrors.error(command: argv[0], stderr: r.stderrText, exitCode: r.exitCode)
  }

  // MARK: queries

  // Prefetched, and read on their own threads as soon as they come, so the tick
  // finds the nodes parsed and the queue indexed when it asks.
  private var pendingNodes: SlurmCLI.Pending<[NodeInfo]>?
  private var pendingQueue: SlurmCLI.Pending<QueueIndex>?
  private var nodesCache: [NodeInfo]?

  /// Starts the tick's one `sinfo` and one `squeue` at once, in the background.
  public func prefetch(queue: Bool) {
    // squeue first: its answer is the longer wait. Not asked for, it is still run if
    // the tick turns out to need it (submit limits to check).
    if queue && pendingQueue == nil && queueCache == nil {
      // Read line by line while squeue prints (it writes ~150 bytes a job).
      let reader = QueueReader()
      pendingQueue = cli.start(
        SlurmQueries.squeue(user: user, cluster: config.clusters), onStdout: reader.feed
      ) {
        reader.finish(whole: $0.stdout)
      }
    }
    // With `max_concurrent` set, g is that number: the nodes are not needed.
    if pendingNodes == nil && nodesCache == nil && config.maxConcurrent == nil {
      pendingNodes = cli.start(SlurmQueries.sinfoNodes(cluster: config.clusters), read: Self.readNodes)
    }
  }

  /// What `argv` answers, read by `read`: from its prefetched run (read there
  /// already) or from running it now. Fails on a non-zero exit.
  func answer<Answer>(
    _ argv: [String], prefetched: inout SlurmCLI.Pending<Answer>?, read: (CommandResult) -> Answer
  ) throws -> Answer {
    if let p = prefetched {
      prefetched = nil
      let (r, answer) = try cli.finish(p)
      guard r.succeeded else { throw fail(argv, r) }
      return answer ?? read(r)
    }
    let r = try cli.run(argv)
    guard r.succeeded else { throw fail(argv, r) }
    return read(r)
  }

  @Sendable static func readNodes(_ r: CommandResult) -> [NodeInfo] {
    SinfoParser.parseNodes(r.stdoutText).items
  }

  @Sendable static func readQueue(_ r: CommandResult) -> QueueIndex {
    QueueIndex(SqueueParser.parse(r.stdoutText).items)
  }

  public func nodes() throws -> [NodeInfo] {
    if let n = nodesCache { return n }
    let n = try answer(
      SlurmQueries.sinfoNodes(cluster: config.clusters), prefetched: &pendingNodes, read: Self.readNodes)
    nodesCache = n
    return n
  }

  public func queue() throws -> [QueuedJob] { try queueIndex().jobs }

  func queueIndex() throws -> QueueIndex {
    if let q = queueCache { return q }
    let q = try answer(
      SlurmQueries.squeue(user: user, cluster: config.clusters), prefetched: &pendingQueue,
      read: Self.readQueue)
    Trace.mark("squeue answered and read")
    queueCache = q
    return q
  }

  /// `nil` when accounting is disabled.
  public func accounting(_ ids: [JobID], since: Date) throws -> [AccountingRecord]? {
    try accounting(
      SlurmQueries.sacct(jobIDs: ids, start: Self.slurmTime(since), cluster: config.clusters, chunkSize: 500))
  }

  /// Jobs by name (the submission tags of runs whose sbatch may or may not have gone through).
  func accounting(names: [String], since: Date) throws -> [AccountingRecord]? {
    if names.isEmpty { return [] }
    return try accounting([
      [
        "sacct", "-P", "-n", "-X", "--delimiter=\(SlurmQueries.fieldSeparator)", "-S", Self.slurmTime(since),
        "--name=" + names.joined(separator: ","), "-o", SacctParser.fields.joined(separator: ","),
      ] + config.clusterArgs
    ])
  }

  /// Runs sacct commands; nil when accounting is disabled on this cluster.
  func accounting(_ commands: [[String]]) throws -> [AccountingRecord]? {
    var out: [AccountingRecord] = []
    for argv in commands {
      let r = try cli.run(argv)
      if !r.succeeded {
        let e = fail(argv, r)
        if e.kind == .accountingDisabled { return nil }
        throw e
      }
      out += SacctParser.parse(r.stdoutText).records
    }
    return out
  }

  /// `2026-12-01T19:55:14` in the local time zone, as sacct's `-S` reads it.
  static func slurmTime(_ d: Date) -> String {
    var t = time_t(d.timeIntervalSince1970.rounded(.down))
    var parts = tm()
    localtime_r(&t, &parts)
    return Text.fromC(capacity: 32) { p, n in strftime(p, n, "%Y-%m-%dT%H:%M:%S", &parts) } ?? ""
  }

  public func ping() -> (ok: Bool, message: String) {
    guard
      let r = try? cli.run(
        ["scontrol"] + config.clusterArgs + ["ping"], timeout: 15)
    else {
      return (false, "scontrol not found")
    }
    let text = (r.stdoutText + r.stderrText).trimmed()
    return (r.succeeded && text.contains("UP"), r.timedOut ? "no answer within 15 s" : text)
  }

  func loadFacts() -> SlurmFacts {
    if let f = facts { return f }
    let now = clock.now().timeIntervalSince1970
    if let p = cachePath, let d = try? Files.read(p),
      let f = SlurmFacts.decode(d), f.version == 1,
      now - f.fetched < 3600, now >= f.fetched
    {
      facts = f
      return f
    }
    var f = SlurmFacts(version: 1, fetched: now)
    if let r = try? cli.run(SlurmQueries.scontrolShowConfig(cluster: config.clusters)), r.succeeded {
      let cfg = ScontrolParser.parseConfig(r.stdoutText)
      let l = ScontrolParser.limits(fromConfig: cfg)
      f.maxArraySize = l.maxArraySize
      f.minJobAge = l.minJobAge
      f.messageTimeout = l.messageTimeout
      f.accounting = cfg["AccountingStorageType"].map { !$0.contains("none") }
    }
    if f.accounting != false {
      let a = try? cli.run(
        SlurmQueries.sacctmgrAssociations(user: user, cluster: config.clusters), timeout: 15)
      let q = try? cli.run(SlurmQueries.sacctmgrQOS(), timeout: 15)
      if let a, let q, a.succeeded, q.succeeded {
        let assocs = SacctmgrParser.parseAssociations(a.stdoutText).items
        let qos = SacctmgrParser.parseQOS(q.stdoutText).items
        let inUse = config.defaults.qos ?? (qos.contains { $0.name == "normal" } ? "normal" : nil)
        let l = SacctmgrParser.applyLimits(
          associations: assocs, qos: qos, qosInUse: inUse, account: config.defaults.account, partition: nil)
        f.maxSubmitJobs = l.maxSubmitJobs
        f.maxJobs = l.maxJobs
        f.maxSubmitJobsSource = l.maxSubmitJobsSource
        f.maxJobsSource = l.maxJobsSource
      }
    }
    facts = f
    if let p = cachePath, let d = try? JSONEncoder().encode(f) {
      try? Files.makeDirectory(Path.dirname(p), mode: 0o700)
      try? Files.writeAtomically(p, d)
    }
    return f
  }

  public var arrayLimit: Int? { loadFacts().maxArraySize }

  public var limits: SlurmLimits {
    let f = loadFacts()
    var l = SlurmLimits()
    l.maxArraySize = f.maxArraySize
    l.minJobAge = f.minJobAge
    l.messageTimeout = f.messageTimeout
    l.maxSubmitJobs = f.maxSubmitJobs
    l.maxJobs = f.maxJobs
    l.maxSubmitJobsSource = f.maxSubmitJobsSource
    l.maxJobsSource = f.maxJobsSource
    return l
  }

  // MARK: Backend

  /// GPUs on usable nodes of the partitions (each node counted once).
  public static func usableGPUs(_ nodes: [NodeInfo], partitions: [String?]) -> (
    gpus: Int, partitions: [String]
  ) {
    let defaultPartition = nodes.first(where: \.isDefaultPartition)?.partition
    let wanted = Set(
      partitions.map { $0 ?? defaultPartition ?? "" }.flatMap { $0.split(separator: ",").map(String.init) })
    var seen = Set<String>()
    var total = 0
    for n in nodes where wanted.contains(n.partition) && n.state.usable && !seen.contains(n.name) {
      seen.insert(n.name)
      total += n.gpusTotal
    }
    return (total, wanted.sorted())
  }

  public func capacity(partitions: [String?]) throws -> CapacityInput {
    let l = limits
    var c = CapacityInput(detectedGPUs: nil, source: "not asked: limits.max_concurrent is set", limits: l)
    if config.maxConcurrent == nil {
      let (gpus, names) = Self.usableGPUs(try self.nodes(), partitions: partitions)
      c.detectedGPUs = gpus > 0 ? gpus : nil
      c.source = "GPUs on usable nodes of \(names.joined(separator: ","))"
    }
    if l.maxSubmitJobs != nil || l.maxJobs != nil {
      let q = try queue().filter { StateMap.runState(slurm: $0.state, exitCode: nil) == nil }
      c.userJobsQueued = q.count
      c.userJobsRunning = q.filter { StateMap.inFlightState(slurm: $0.state) == .running }.count
    }
    return c
  }

  /// The queue with its jobs by id and by submission tag (built where squeue's
  /// answer is read, off the tick's thread).
  struct QueueIndex: Sendable {
    private(set) var jobs: [QueuedJob] = []
    private(set) var byID: [String: Int] = [:]
    private(set) var byTag: [String: [QueuedJob]] = [:]
    // An array's tasks come line after line with one name (one String, too).
    private var lastName: String?
    private var lastTag: String?

    init(_ jobs: [QueuedJob] = []) { add(jobs) }

    mutating func add(_ more: [QueuedJob]) {
      byID.reserveCapacity(jobs.count + more.count)
      for j in more {
        byID[j.id.description] = jobs.count
        jobs.append(j)
        if j.name != lastName {
          lastName = j.name
          lastTag = SlurmBackend.tag(ofJobName: j.name)
        }
        if let t = lastTag { byTag[t, default: []].append(j) }
      }
    }
  }

  /// Reads squeue's answer while it comes: each piece's whole lines are parsed
  /// and indexed at once (lines stand alone), the unfinished last line waits for
  /// the next piece. `finish` checks it saw all of the output; if not (a runner
  /// that does not stream), it reads the whole output.
  final class QueueReader: @unchecked Sendable {
    private let lock = Lock()
    private var index = QueueIndex()
    private var rest = Data()
    private var seen = 0
    /// Bytes gathered before a parse (each has a set-up cost); 0 parses every piece.
    private let batch: Int

    init(batch: Int = 16 << 10) { self.batch = batch }

    @Sendable func feed(_ piece: Data) {
      lock.lock()
      defer { lock.unlock() }
      seen += piece.count
      rest.append(piece)
      // Only whole lines, and only once there are a few (each parse has a set-up cost).
      guard rest.count >= batch, let nl = rest.lastIndex(of: 0x0A) else { return }
      let lines = rest[rest.startIndex...nl]
      index.add(SqueueParser.parse(String(decoding: lines, as: UTF8.self)).items)
      rest = Data(rest[(nl + 1)...])
    }

    /// Jobs read so far (before `finish`).
    var jobsRead: Int {
      lock.lock()
      defer { lock.unlock() }
      return index.jobs.count
    }

    func finish(whole: Data) -> QueueIndex {
      lock.lock()
      defer { lock.unlock() }
      guard seen == whole.count else {
        return QueueIndex(SqueueParser.parse(String(decoding: whole, as: UTF8.self)).items)
      }
      if !rest.isEmpty { index.add(SqueueParser.parse(String(decoding: rest, as: UTF8.self)).items) }
      rest = Data()
      return index
    }
  }

  static func tag(ofJobName name: String) -> String? {
    // Bytes first (every squeue line passes here): `... .slXXXXXXXXXX` in ASCII.
    // (`.` + 12 characters is at least 13 bytes.)
    let u = name.utf8
    guard u.count >= 13 else { return nil }
    let dot = u.index(u.endIndex, offsetBy: -13)
    let tail = u[u.index(after: dot)...]
    if tail.allSatisfy({ $0 < 0x80 }) {
      guard u[dot] == 0x2E, tail.starts(with: [0x73, 0x6C]), !tail.contains(0x2E) else { return nil }
      return String(name[u.index(after: dot)...])
    }
    guard let dot = name.lastIndex(of: ".") else { return nil }
    let t = name[name.index(after: dot)...]
    return t.hasPrefix("sl") && t.count == 12 ? String(t) : nil
  }

  public func observe(runs: [Run], context: ObserveContext) throws -> [RunUpdate] {
    let index = try queueIndex()
    let queue = index.jobs
    let byTag = index.byTag
    var updates: [RunUpdate] = []
    var needAccounting: [Run] = []
    var squeueTerminal: [String: QueuedJob] = [:]
    var submitting: [Run] = []
    updates.reserveCapacity(runs.count)
    // By position: a Run is big to copy, and most are only looked at.
    // Slurm's state words mapped once each (a queue repeats a few: PENDING, RUNNING).
    var mapped: (word: String, inFlight: RunState?)?
    for i in runs.indices where runs[i].state.isInFlight {
      if runs[i].state == .submitting || runs[i].jobID == nil {
        submitting.append(runs[i])
        continue
      }
      let id = runs[i].jobID!
      if let j = index.byID[id].map({ queue[$0] }) ?? pendingRangeMatch(runs[i], queue: queue) {
        if mapped?.word != j.state {
          mapped = (
            j.state,
            StateMap.runState(slurm: j.state, exitCode: nil) == nil
              ? StateMap.inFlightState(slurm: j.state) : nil
          )
        }
        if let state = mapped!.inFlight {
          updates.append(
            RunUpdate(
              runID: runs[i].id, state: state, reason: j.reason == "None" ? nil : j.reason,
              // A pending job's StartTime is only Slurm's estimate, which moves.
              started: state == .running ? j.startTime : nil))
          continue
        }
        squeueTerminal[runs[i].id] = j
      }
      needAccounting.append(runs[i])
    }
    // Adopt runs whose submission may or may not have reached Slurm.
    var tagNames: [String] = []
    for run in submitting {
      guard let tag = run.submission else {
        updates.append(RunUpdate(runID: run.id, state: .queued))
        continue
      }
      if let jobs = byTag[tag], let u = adopt(run, jobs: jobs) {
        updates.append(u)
      } else {
        tagNames.append(tag)
      }
    }
    let since = context.now.addingTimeInterval(-14 * 86400)
    if !tagNames.isEmpty {
      let uniqueTags = Array(Set(tagNames)).sorted()
      let names = Set(
        submitting.filter { uniqueTags.contains($0.submission ?? "") }.map {
          Submission(tag: $0.submission!, runs: [$0], isArray: $0.arrayIndex != nil).jobName
        })
      let recs = try accounting(names: Array(names).sorted(), since: since) ?? []
      var recTags: [String: [QueuedJob]] = [:]
      for r in recs {
        if let t = Self.tag(ofJobName: r.name) {
          recTags[t, default: []].append(QueuedJob(id: r.id, rawID: r.rawID, name: r.name, state: r.state))
        }
      }
      for run in submitting where uniqueTags.contains(run.submission ?? "") {
        if let jobs = recTags[run.submission!], let u = adopt(run, jobs: jobs) {
          updates.append(u)
        } else if ExitRecord.read(context.exitsDir + "/\(run.id).a\(run.attempt)").started != nil {
          updates.append(
            RunUpdate(
              runID: run.id, state: .unknown, reason: "job started (exit record) but Slurm no longer lists it"
            ))
        } else {
          updates.append(RunUpdate(runID: run.id, state: .queued, reason: "submission never reached Slurm"))
        }
      }
    }
    // One batched sacct for everything that left the queue.
    if !needAccounting.isEmpty {
      let ids = needAccounting.compactMap { r -> JobID? in
        if let a = r.arrayJobID { return JobID(base: a) }
        return r.jobID.flatMap(JobID.parse)
      }
      let submittedTimes = needAccounting.compactMap { $0.submitted.flatMap(Timestamps.parse) }
      let start = (submittedTimes.min() ?? context.now).addingTimeInterval(-86400)
      let recs: [AccountingRecord]?
      do { recs = try accounting(ids, since: start) } catch let e as SlurmCommandError
        where e.kind == .transient
      {
        // slurmdbd down or slow: learn nothing about these runs this time; they stay as they are.
        warnings.append("sacct: \(e.message); finished runs are checked again next tick")
        return updates
      }
      var recByID: [String: AccountingRecord] = [:]
      for r in recs ?? [] { recByID[r.id.description] = r }
      let minAge = Double(limits.minJobAge ?? 300)
      for run in needAccounting {
        let exitRec = ExitRecord.read(context.exitsDir + "/\(run.id).a\(run.attempt)")
        let started = exitRec.started.map { Timestamps.iso(Date(timeIntervalSince1970: $0)) }
        if let rec = recByID[run.jobID!] ?? Self.rangeRecord(run, recs ?? []) {
          if let s = StateMap.runState(slurm: rec.state, exitCode: rec.exitCode) {
            updates.append(
              RunUpdate(
                runID: run.id, state: s, exitCode: rec.exitCode ?? exitRec.exit?.exitCode, signal: rec.signal,
                reason: Self.reason(rec), started: rec.start ?? started, ended: rec.end))
          } else {
            updates.append(
              RunUpdate(runID: run.id, state: StateMap.inFlightState(slurm: rec.state), started: rec.start))
          }
          continue
        }
        // squeue still shows how it ended (accounting off or lagging).
        if let j = squeueTerminal[run.id],
          let s = StateMap.runState(slurm: j.state, exitCode: exitRec.exit?.exitCode)
        {
          var state = s
          if s == .completed, let e = exitRec.exit, e.exitCode != 0 { state = .failed }
          updates.append(
            RunUpdate(
              runID: run.id, state: state, exitCode: exitRec.exit?.exitCode ?? (s == .completed ? 0 : nil),
              reason: j.reason, started: started))
          continue
        }
        // Missing from both: the job's own exit record decides, else it is unknown until the deadline.
        if recs == nil, let e = exitRec.exit {
          updates.append(
            RunUpdate(
              runID: run.id, state: e.exitCode == 0 ? .completed : .failed, exitCode: e.exitCode,
              reason: "from the job's exit record (no accounting)", started: started,
              ended: e.endedEpoch.map { Timestamps.iso(Date(timeIntervalSince1970: $0)) }))
          continue
        }
        let missing = run.missingSince.flatMap(Timestamps.parse) ?? context.now
        if context.now.timeIntervalSince(missing) > minAge + context.lostMargin {
          if let e = exitRec.exit {
            updates.append(
              RunUpdate(
                runID: run.id, state: e.exitCode == 0 ? .completed : .failed, exitCode: e.exitCode,
                reason: "from the job's exit record"))
          } else {
            updates.append(
              RunUpdate(
                runID: run.id, state: .lost,
                reason: "not in squeue or sacct for \(Int(minAge + context.lostMargin)) s"))
          }
        } else {
          updates.append(RunUpdate(runID: run.id, state: .unknown, reason: "not in squeue or sacct yet"))
        }
      }
    }
    return updates
  }

  static func reason(_ r: AccountingRecord) -> String? {
    if r.stateText.uppercased().hasPrefix("CANCELLED") { return r.stateText.lowercased() }
    if let reason = r.reason, reason != "None" { return reason }
    return nil
  }

  /// A pending array range such as `123_[4-9%3]` covers tasks 4..9 of job 123.
  func pendingRangeMatch(_ run: Run, queue: [QueuedJob]) -> QueuedJob? {
    guard let a = run.arrayJobID, let idx = run.arrayIndex else { return nil }
    for j in queue where j.id.base == a && j.id.arrayRange != nil {
      if Self.range(j.id.arrayRange!, contains: idx) { return j }
    }
    return nil
  }

  /// An array that ended before its tasks split off (cancelled while pending or held)
  /// has one accounting record, `N_[0-3%2]`, for all of its tasks.
  static func rangeRecord(_ run: Run, _ recs: [AccountingRecord]) -> AccountingRecord? {
    guard let a = run.arrayJobID, let idx = run.arrayIndex else { return nil }
    return recs.first { $0.id.base == a && ($0.id.arrayRange.map { range($0, contains: idx) } ?? false) }
  }

  static func range(_ spec: String, contains i: Int) -> Bool {
    let body = spec.split(separator: "%").first.map(String.init) ?? spec
    for part in body.split(separator: ",") {
      let ends = part.split(separator: "-")
      if ends.count == 1, let v = Int(ends[0]), v == i { return true }
      if ends.count == 2, let lo = Int(ends[0]), let hi = Int(ends[1].split(separator: ":")[0]), lo <= i,
        i <= hi
      {
        return true
      }
    }
    return false
  }

  func adopt(_ run: Run, jobs: [QueuedJob]) -> RunUpdate? {
    if let idx = run.arrayIndex {
      guard let base = jobs.first?.id.base else { return nil }
      let task =
        jobs.first { $0.id.arrayTask == idx }
        ?? jobs.first { $0.id.arrayRange.map { Self.range($0, contains: idx) } ?? false }
      let state =
        task.map {
          StateMap.runState(slurm: $0.state, exitCode: nil) == nil
            ? StateMap.inFlightState(slurm: $0.state) : .unknown
        } ?? .unknown
      return RunUpdate(
        runID: run.id, state: state, jobID: "\(base)_\(idx)", arrayJobID: base, arrayIndex: idx)
    }
    guard let j = jobs.first else { return nil }
    let state: RunState =
      StateMap.runState(slurm: j.state, exitCode: nil) == nil
      ? StateMap.inFlightState(slurm: j.state) : .unknown
    return RunUpdate(runID: run.id, state: state, jobID: String(j.id.base))
  }

  var submitArgv: [String] {
    ["sbatch", "--parsable"] + config.clusterArgs
  }

  /// The longest script given to sbatch on stdin: a pipe takes up to PIPE_BUF bytes
  /// in one piece, so a tick killed while writing cannot leave sbatch half a script to
  /// submit. A longer one (an array's is ~1 KB; its runs are in a table file) goes by
  /// its saved copy's path.
  static let stdinLimit = 4096

  public func submit(_ s: Submission, script: String, scriptPath: String) -> SubmitOutcome {
    let input = Data(script.utf8)
    let byPath = input.count > Self.stdinLimit
    let argv = submitArgv + (byPath ? [scriptPath] : [])
    let r: CommandResult
    do {
      r = try cli.run(argv, stdin: byPath ? nil : input)
    } catch {
      return Self.failure(error)
    }
    return outcome(argv, r)
  }

  static func failure(_ error: Error) -> SubmitOutcome {
    if let e = error as? SlurmCommandError { return .failed(e) }
    return .failed(SlurmCommandError(kind: .transient, command: "sbatch", message: "\(error)"))
  }

  /// What sbatch's answer means for the runs.
  func outcome(_ argv: [String], _ r: CommandResult) -> SubmitOutcome {
    if r.timedOut { return .uncertain("sbatch gave no answer within \(Int(cli.timeout)) s") }
    guard r.succeeded else { return .failed(fail(argv, r)) }
    do {
      let res = try SbatchParser.parseParsable(r.stdoutText)
      return .submitted(jobID: res.jobID, cluster: res.cluster)
    } catch {
      return .uncertain(
        "sbatch answered '\(r.stdoutText.trimmed())', not a job id")
    }
  }

  public func startSubmitter() -> Submitter? { EarlySbatch(self) }

  public func validate(scriptPath: String) -> (ok: Bool, message: String) {
    let argv =
      ["sbatch", "--test-only"] + config.clusterArgs + [scriptPath]
    guard let r = try? cli.run(argv) else { return (false, "sbatch not found") }
    let text = (r.stderrText + r.stdoutText).trimmed()
    return (r.succeeded, text)
  }

  public func cancel(_ runs: [Run]) throws -> String {
    var ids: [String] = []
    var arrays: [Int: [Run]] = [:]
    for r in runs {
      if let a = r.arrayJobID { arrays[a, default: []].append(r) } else if let j = r.jobID { ids.append(j) }
    }
    for (a, selected) in arrays.sorted(by: { $0.key < $1.key }) {
      // Whole array selected: cancel it by its id; else only the chosen tasks.
      let known = (try? queue().filter { $0.id.base == a }) ?? []
      let chosen = Set(selected.compactMap(\.arrayIndex))
      let others = known.contains { j in
        j.id.arrayTask.map { !chosen.contains($0) } ?? (j.id.arrayRange != nil)
      }
      if others { ids += selected.compactMap(\.jobID) } else { ids.append(String(a)) }
    }
    if ids.isEmpty { return "" }
    let argv = ["scancel"] + config.clusterArgs + ids
    let r = try cli.run(argv)
    if !r.succeeded && !r.stderrText.contains("already completed") && !r.stderrText.contains("Invalid job id")
    {
      throw fail(argv, r)
    }
    return "scancel \(ids.joined(separator: " "))"
  }
}

/// An `sbatch --parsable` started before the tick knows its script: it loads its
/// libraries and reads slurm.conf (~4 ms here) while the tick expands and records
/// the runs, then waits for the script on stdin. Until it has one it has not spoken
/// to the controller, so one cancelled (or left by a killed tick: its stdin closes
/// empty) submits nothing.
final class EarlySbatch: Submitter {
  let backend: SlurmBackend
  let argv: [String]
  let script = Handoff<Data?>()
  let pending: SlurmCLI.Pending<Void>
  private var used = false

  init(_ backend: SlurmBackend) {
    self.backend = backend
    argv = backend.submitArgv
    let script = self.script
    // Counted when it is given a script: one that is cancelled never was a call.
    pending = backend.cli.start(argv, lateInput: { script.take() }, counted: false) { _ in }
  }

  func submit(_ s: Submission, script text: String, scriptPath: String) -> SubmitOutcome {
    let input = Data(text.utf8)
    guard !used, input.count <= SlurmBackend.stdinLimit else {
      cancel()
      return backend.submit(s, script: text, scriptPath: scriptPath)
    }
    used = true
    backend.cli.count(pending)
    script.give(input)
    do {
      return backend.outcome(argv, try backend.cli.finish(pending).result)
    } catch {
      return SlurmBackend.failure(error)
    }
  }

  func cancel() {
    guard !used else { return }
    used = true
    script.give(nil)
    _ = try? pending.work.wait()
  }
}
