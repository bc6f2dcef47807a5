import FoundationEssentials
import Glibc

/// What a tick works on: sweeps and every run not yet archived.
public struct ActiveState: Equatable, Sendable {
  public var sweeps: [Sweep] = []
  public var runs: [Run] = []
  public var archiveSeq: Int = 0
  public var eventSeq: Int = 0
  public var runSeq: Int = 0

  public init() {}

  /// Position of each run by id (the first, should an id ever repeat).
  public func indexByID() -> [String: Int] {
    var index: [String: Int] = [:]
    index.reserveCapacity(runs.count)
    for i in runs.indices where index[runs[i].id] == nil { index[runs[i].id] = i }
    return index
  }

  /// Runs in `state` (by position: iterating would copy each Run, ~40 fields).
  public func count(in state: RunState) -> Int {
    var n = 0
    for i in runs.indices where runs[i].state == state { n += 1 }
    return n
  }

  public var inFlightCount: Int {
    var n = 0
    for i in runs.indices where runs[i].state.isInFlight { n += 1 }
    return n
  }

  public func sweep(_ key: String) -> Sweep? {
    sweeps.first { $0.id == key } ?? sweeps.first { $0.name == key }
  }

  public mutating func nextRunNumber() -> Int {
    runSeq += 1
    return runSeq
  }
}

public enum StoreError: Error, CustomStringConvertible, Equatable {
  case unknownVersion(path: String, version: Int)
  case corrupt(path: String, message: String)

  public var description: String {
    switch self {
    case .unknownVersion(let p, let v):
      return
        "\(p): state format version \(v) is newer than this sluice understands (version \(Store.formatVersion)); upgrade sluice"
    case .corrupt(let p, let m): return "\(p): cannot read state: \(m)"
    }
  }
}

// On-disk forms, kept apart from the model so the model can change.
struct VersionProbe: Decodable { var version: Int }

struct ActiveFileV1: Codable {
  var version: Int
  var sweeps: [Sweep]
  var runs: [Run]
  var archive_seq: Int
  var event_seq: Int
  var run_seq: Int
}

struct ReceiptFileV1: Codable {
  var version: Int
  var event_seq: Int
  var submissions: [SubmissionReceipt]
}

/// What sbatch answered for one submission: its job id, and the log patterns
/// its runs' paths are made from. (The engine's own record: not public.)
struct SubmissionReceipt: Codable, Equatable, Sendable {
  var tag: String
  var job: Int
  var array: Bool
  var submitted: String
  var stdout: String
  var stderr: String
}

/// The submissions of one tick, and the event count after its events.
struct Receipt: Equatable, Sendable {
  var eventSeq: Int
  var submissions: [SubmissionReceipt]
}

extension Run {
  /// A run sbatch accepted: `pending` under its job (an array's task by the run's
  /// array index), its log paths made from the submission's patterns.
  mutating func markSubmitted(
    job: Int, array: Bool, at stamp: String, out: LogPattern, err: LogPattern
  ) {
    markSubmitted(job: job, array: array, at: stamp)
    setLogPaths(job: job, out: out, err: err)
  }

  /// All of `markSubmitted` but the log paths.
  mutating func markSubmitted(job: Int, array: Bool, at stamp: String) {
    let idx = array ? arrayIndex : nil
    let jobText = String(job)
    state = .pending
    jobID = idx.map { jobText + "_" + String($0) } ?? jobText
    arrayJobID = array ? job : nil
    arrayIndex = idx
    submitted = stamp
    submitError = nil
    missingSince = nil
  }

  /// The log paths of a run accepted under `job` (after `markSubmitted`).
  mutating func setLogPaths(job: Int, out: LogPattern, err: LogPattern) {
    let jobText = String(job)
    stdoutPath = out.path(job: jobText, index: arrayIndex)
    stderrPath = err.path(job: jobText, index: arrayIndex)
  }
}

struct ArchiveFileV1: Codable {
  var version: Int
  var runs: [Run]
}

/// The run store in `.sluice/`: `active.json` holds sweeps and unfinished runs;
/// finished runs move to `archive/NNNNNN.json` (full records) and
/// `archive/NNNNNN.tsv` (summaries), each written once. Every write is atomic.
public final class Store: @unchecked Sendable {
  public static let formatVersion = 1
  public let dir: String
  public let fileMode: mode_t
  public let dirMode: mode_t

  public init(dir: String, fileMode: mode_t = 0o600, dirMode: mode_t = 0o700) {
    self.dir = dir
    self.fileMode = fileMode
    self.dirMode = dirMode
  }

  public var activePath: String { dir + "/active.json" }
  public var archiveDir: String { dir + "/archive" }
  public var lockPath: String { dir + "/lock" }
  public var scriptsDir: String { dir + "/scripts" }
  public var exitsDir: String { dir + "/exits" }
  public var eventsDir: String { dir + "/events" }
  public var logPath: String { dir + "/log.md" }
  public var receiptsDir: String { dir + "/receipts" }

  /// Receipt files the last `loadActive` applied: the next `save` writes their
  /// effect into `active.json`, then removes them. (A store serves one command.)
  private var appliedReceipts: [String] = []
  /// Intent files the last `loadActive` brought runs back from, and those it
  /// found stale (the state lists their tags): see `save`.
  private var recovered: [String] = []
  private var staleIntents: [String] = []
  /// Intents the last `loadActive` brought runs back from, not yet folded.
  public var recoveredIntents: Int { recovered.count }

  /// The state's folders, made once per project (when it is first locked). The
  /// intents and receipts ones too, though a tick that submits is the first to use
  /// them: making a folder here costs a fresh inode (0.2-1.7 ms on this machine's
  /// ext4 after many deletions), which on the submission's path sbatch waited for.
  public func prepare() throws {
    for d in [dir, archiveDir, scriptsDir, exitsDir, eventsDir, intentsDir, receiptsDir] {
      try Files.makeDirectory(d, mode: dirMode)
    }
  }

  public var exists: Bool { Files.isDirectory(dir) }

  public func lock() -> ProjectLock { ProjectLock(path: lockPath) }

  // MARK: active state

  /// The active state: `active.json`, then the submissions of intents it does not
  /// list yet, then the receipts written since it was saved.
  public func loadActive() throws -> ActiveState {
    var s = try loadActiveFile()
    (recovered, staleIntents) = try applyIntents(&s)
    try applyReceipts(&s)
    return s
  }

  func loadActiveFile() throws -> ActiveState {
    guard Files.exists(activePath) else { return ActiveState() }
    let data = try Files.read(activePath)
    // The fast reader in the common case; Codable only to explain a failure.
    if let fast = StateCodec.decodeActive(data) { return fast }
    if let f = try? JSONDecoder().decode(ActiveFileV1.self, from: data), f.version == Self.formatVersion {
      var s = ActiveState()
      s.sweeps = f.sweeps
      s.runs = f.runs
      s.archiveSeq = f.archive_seq
      s.eventSeq = f.event_seq
      s.runSeq = f.run_seq
      return s
    }
    let probe: VersionProbe
    do { probe = try JSONDecoder().decode(VersionProbe.self, from: data) } catch {
      throw StoreError.corrupt(path: activePath, message: "not a sluice state file (\(error))")
    }
    guard probe.version == Self.formatVersion else {
      throw StoreError.unknownVersion(path: activePath, version: probe.version)
    }
    do {
      _ = try JSONDecoder().decode(ActiveFileV1.self, from: data)
    } catch {
      throw StoreError.corrupt(path: activePath, message: "\(error)")
    }
    throw StoreError.corrupt(path: activePath, message: "unreadable")
  }

  /// Threads that encode a big state at once: this machine's cores, at most 4.
  // sysconf, not ProcessInfo.activeProcessorCount: that reads the cgroup's quota
  // files (~380,000 instructions) for a count capped at 4 here anyway.
  static let encoders = min(4, max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

  /// Saves `state`, first moving its finished runs to a new archive segment.
  /// Archive segments are always synced before the active file stops listing
  /// their runs; `durability` is for the active file itself.
  public func save(_ state: inout ActiveState, durability: Durability = .synced) throws {
    try prepare()
    try archiveFinished(&state)
    try writeActive(state, durability: durability)
  }

  /// Moves the finished runs of `state` to a new archive segment (synced); says
  /// whether there were any (the runs left have moved up then).
  @discardableResult
  func archiveFinished(_ state: inout ActiveState) throws -> Bool {
    let finished = state.runs.filter(\.state.isTerminal)
    guard !finished.isEmpty else { return false }
    state.archiveSeq += 1
    try writeArchive(seq: state.archiveSeq, runs: finished)
    for r in finished {
      if let i = state.sweeps.firstIndex(where: { $0.id == r.sweep }) {
        state.sweeps[i].archived[r.state.rawValue, default: 0] += 1
      }
    }
    state.runs.removeAll(where: \.state.isTerminal)
    return true
  }

  /// Writes `active.json` (runs archived already), then drops what it now says:
  /// the receipts and intents the load applied. A stale intent goes first (once the
  /// file no longer lists its runs, as after they are archived, it would bring them
  /// back); one whose runs the load brought back goes only after the file listing
  /// them is on stable storage.
  func writeActive(_ state: ActiveState, durability: Durability, parts: Int = Store.encoders) throws {
    for path in staleIntents { Files.remove(path) }
    staleIntents = []
    try Files.writeAtomically(
      activePath, buffers: StateCodec.encodeActive(state, parts: parts), mode: fileMode,
      durability: recovered.isEmpty ? durability : .synced)
    for path in recovered { Files.remove(path) }
    recovered = []
    for name in appliedReceipts { Files.remove(receiptsDir + "/" + name) }
    appliedReceipts = []
  }

  // MARK: receipts

  /// Records what sbatch answered for submissions whose runs the same tick
  /// recorded `submitting` in its intent: a few hundred bytes instead of the whole
  /// state (for a 1,000-run grid, ~370 KB encoded and written, most of what a tick
  /// did after sbatch answered). Not forced to disk: if it is lost, the runs are
  /// still `submitting` with their tag, and the next tick finds their jobs by it.
  func writeReceipt(_ receipt: Receipt) throws {
    guard !receipt.submissions.isEmpty else { return }
    try Files.makeDirectory(receiptsDir, mode: dirMode)
    var o = StateCodec.W()
    o.open()
    o.int("version", Self.formatVersion)
    o.int("event_seq", receipt.eventSeq)
    o.key("submissions")
    o.array(receipt.submissions, lines: true) { o, s in
      o.open()
      o.str("tag", s.tag)
      o.int("job", s.job)
      o.bool("array", s.array)
      o.str("submitted", s.submitted)
      o.str("stdout", s.stdout)
      o.str("stderr", s.stderr)
      o.close()
    }
    o.close()
    o.w.raw("\n")
    try Files.writeAtomically(
      receiptsDir + "/" + receipt.submissions[0].tag + ".json", buffers: [o.w.out], mode: fileMode,
      durability: .ordered)
  }

  /// Applies every receipt in `receipts/` (oldest name first) to the runs still
  /// `submitting` under its tags; a run that moved on since is left alone, so a
  /// receipt applied twice changes nothing.
  func applyReceipts(_ state: inout ActiveState) throws {
    let names = Files.list(receiptsDir).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
    appliedReceipts = names
    guard !names.isEmpty else { return }
    var byTag: [String: SubmissionReceipt] = [:]
    for name in names {
      let path = receiptsDir + "/" + name
      let data = try Files.read(path)
      let fix = "remove it (the next tick finds the jobs of its runs by their tag)"
      let probe: VersionProbe
      do { probe = try JSONDecoder().decode(VersionProbe.self, from: data) } catch {
        throw StoreError.corrupt(path: path, message: "not a sluice receipt; \(fix)")
      }
      guard probe.version == Self.formatVersion else {
        throw StoreError.unknownVersion(path: path, version: probe.version)
      }
      let file: ReceiptFileV1
      do { file = try JSONDecoder().decode(ReceiptFileV1.self, from: data) } catch {
        throw StoreError.corrupt(path: path, message: "\(error); \(fix)")
      }
      state.eventSeq = max(state.eventSeq, file.event_seq)
      for s in file.submissions { byTag[s.tag] = s }
    }
    var patterns: [String: (out: LogPattern, err: LogPattern)] = [:]
    for i in state.runs.indices where state.runs[i].state == .submitting {
      guard let tag = state.runs[i].submission, let s = byTag[tag] else { continue }
      let p = patterns[tag] ?? (LogPattern(s.stdout), LogPattern(s.stderr))
      patterns[tag] = p
      state.runs[i].markSubmitted(job: s.job, array: s.array, at: s.submitted, out: p.out, err: p.err)
    }
  }

  var lastSyncPath: String { dir + "/last-sync" }

  /// Notes that the scheduler was just asked about every in-flight run: the
  /// file's time is the note (a tick that changes nothing writes nothing else).
  public func markSynced(_ now: Date) {
    try? Files.touch(lastSyncPath, time: now, mode: fileMode)
  }

  /// When the scheduler was last asked, nil if never.
  public func lastSync() -> Date? { Files.modified(lastSyncPath) }

  func segmentName(_ seq: Int) -> String {
    let s = String(seq)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
  }

  func writeArchive(seq: Int, runs: [Run]) throws {
    let base = archiveDir + "/" + segmentName(seq)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    try Files.writeAtomically(
      base + ".json", try enc.encode(ArchiveFileV1(version: 1, runs: runs)), mode: fileMode)
    var tsv = "# sluice archive v1\n"
    for r in runs { tsv += SummaryTSV.line(RunSummary(r)) }
    try Files.writeAtomically(base + ".tsv", text: tsv, mode: fileMode)
  }

  func archiveSegments() -> [String] {
    Files.list(archiveDir).filter { $0.hasSuffix(".tsv") }.sorted()
  }

  /// Every run ever recorded, newest record of each id winning: archived
  /// summaries first, then active runs.
  public func allSummaries(active: ActiveState) throws -> [RunSummary] {
    var order: [String] = []
    var byID: [String: RunSummary] = [:]
    byID.reserveCapacity(1024)
    for seg in archiveSegments() {
      let text = try Files.read(archiveDir + "/" + seg)
      guard text.starts(with: Array("# sluice archive v1".utf8)) else {
        let head = String(decoding: text.prefix(40), as: UTF8.self)
        if head.hasPrefix("# sluice archive v") {
          throw StoreError.unknownVersion(path: archiveDir + "/" + seg, version: 99)
        }
        throw StoreError.corrupt(path: archiveDir + "/" + seg, message: "missing header")
      }
      SummaryTSV.parse(text) { s in
        if byID.updateValue(s, forKey: s.id) == nil { order.append(s.id) }
      }
    }
    for r in active.runs {
      if byID.updateValue(RunSummary(r), forKey: r.id) == nil { order.append(r.id) }
    }
    return order.map { byID[$0]! }
  }

  /// The full record of a run: active first, else the newest archive segment holding it.
  public func findRun(_ key: String, active: ActiveState) throws -> Run? {
    if let r = active.runs.first(where: { $0.id == key || $0.jobID == key }) { return r }
    if let r = active.runs.first(where: { $0.name == key }) { return r }
    for seg in archiveSegments().reversed() {
      let json = archiveDir + "/" + seg.replacingAll(".tsv", with: ".json")
      let raw = try Files.read(archiveDir + "/" + seg)
      let needle = Array(key.utf8)
      if !Text.containsBytes(raw, needle) { continue }
      guard Files.exists(json) else { continue }
      let data = try Files.read(json)
      let probe = try JSONDecoder().decode(VersionProbe.self, from: data)
      guard probe.version == 1 else { throw StoreError.unknownVersion(path: json, version: probe.version) }
      let f = try JSONDecoder().decode(ArchiveFileV1.self, from: data)
      if let r = f.runs.last(where: { $0.id == key || $0.jobID == key || $0.name == key }) { return r }
    }
    return nil
  }

  /// Takes a finished run out of the archive for a retry.
  public func unarchive(_ key: String, active: inout ActiveState) throws -> Run? {
    guard var run = try findRun(key, active: active), run.state.isTerminal else { return nil }
    if active.runs.contains(where: { $0.id == run.id }) { return run }
    if let i = active.sweeps.firstIndex(where: { $0.id == run.sweep }) {
      active.sweeps[i].archived[run.state.rawValue, default: 1] -= 1
      if active.sweeps[i].archived[run.state.rawValue] ?? 0 <= 0 {
        active.sweeps[i].archived[run.state.rawValue] = nil
      }
    }
    run.source = run.source ?? "archive"
    active.runs.append(run)
    return run
  }

  // MARK: events

  /// Writes events as one new segment file (never appended to).
  public func appendEvents(
    _ events: [Event], state: inout ActiveState, durability: Durability = .synced
  ) throws {
    var numbered = events
    number(&numbered, state: &state)
    try writeEvents(numbered, durability: durability)
  }

  /// Gives `events` their sequence numbers, counted in `state` (saved with it), in
  /// place: a tick that submits 1,000 runs has 1,000 events, and a numbered copy
  /// was 150 KB of new pages.
  public func number(_ events: inout [Event], state: inout ActiveState) {
    for i in events.indices {
      state.eventSeq += 1
      events[i].seq = state.eventSeq
    }
  }

  /// Writes numbered events as a new segment named by the first one's number.
  public func writeEvents(_ numbered: [Event], durability: Durability = .synced) throws {
    guard !numbered.isEmpty else { return }
    try prepare()
    // One JSON object a line, keys sorted (what JSONEncoder would write), made by hand for speed.
    var o = StateCodec.W()
    for e in numbered {
      o.open()
      o.int("exitCode", e.exitCode)
      o.str("jobID", e.jobID)
      o.str("kind", e.kind)
      o.str("message", e.message)
      o.str("run", e.run)
      o.int("seq", e.seq)
      o.str("state", e.state)
      o.str("task", e.task)
      o.str("time", e.time)
      o.close()
      o.w.raw("\n")
    }
    let name = eventsDir + "/" + segmentName(numbered[0].seq) + ".jsonl"
    try Files.writeAtomically(name, buffers: [o.w.out], mode: fileMode, durability: durability)
  }

  public func events(since cursor: Int) throws -> [Event] {
    let segs = Files.list(eventsDir).filter { $0.hasSuffix(".jsonl") }.sorted()
    var out: [Event] = []
    let dec = JSONDecoder()
    for (i, seg) in segs.enumerated() {
      if i + 1 < segs.count, let nextFirst = Int(segs[i + 1].prefix(8)), nextFirst <= cursor + 1 {
        continue
      }
      let text = try Files.readText(eventsDir + "/" + seg)
      for line in text.split(separator: "\n") {
        if let e = try? dec.decode(Event.self, from: Data(line.utf8)), e.seq > cursor { out.append(e) }
      }
    }
    return out
  }

  // MARK: iteration log

  public func appendLog(_ entry: String, durability: Durability = .synced) throws {
    try prepare()
    var existing = Files.exists(logPath) ? try Files.read(logPath) : Data("# sluice iteration log\n\n".utf8)
    if existing.count > 1 << 20 {
      let stamp = Timestamps.iso(Date()).prefix(19).replacingAll(":", with: "")
      try Files.writeAtomically(dir + "/log-\(stamp).md", existing, mode: fileMode)
      existing = Data("# sluice iteration log\n\n".utf8)
    }
    existing.append(Data(entry.utf8))
    try Files.writeAtomically(logPath, existing, mode: fileMode, durability: durability)
  }
}

/// Tab-separated run summaries with `\t`, `\n` and `\\` escaped.
enum SummaryTSV {
  static func esc(_ s: String?) -> String {
    guard let s else { return "" }
    if !s.utf8.contains(where: { $0 == 0x09 || $0 == 0x0A || $0 == 0x5C || $0 == 0x0D }) { return s }
    // By scalar, not Character: "\r\n" is one Character, and written as it is it
    // would end the line (the run would drop out of `sluice runs`).
    var o = String.UnicodeScalarView()
    for c in s.unicodeScalars {
      switch c {
      case "\t": o.append(contentsOf: "\\t".unicodeScalars)
      case "\n": o.append(contentsOf: "\\n".unicodeScalars)
      case "\r": o.append(contentsOf: "\\r".unicodeScalars)
      case "\\": o.append(contentsOf: "\\\\".unicodeScalars)
      default: o.append(c)
      }
    }
    return String(o)
  }

  static func unesc(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
    if !bytes.contains(0x5C) { return String(decoding: bytes, as: UTF8.self) }
    var o: [UInt8] = []
    o.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
      let c = bytes[i]
      if c == 0x5C && i + 1 < bytes.count {
        switch bytes[i + 1] {
        case 0x74: o.append(0x09)
        case 0x6E: o.append(0x0A)
        case 0x72: o.append(0x0D)
        default: o.append(bytes[i + 1])
        }
        i += 2
      } else {
        o.append(c)
        i += 1
      }
    }
    return String(decoding: o, as: UTF8.self)
  }

  static func line(_ s: RunSummary) -> String {
    [
      esc(s.id), esc(s.name), s.state.rawValue, esc(s.sweep), esc(s.task), esc(s.jobID),
      s.exitCode.map(String.init) ?? "", String(s.attempt), esc(s.ended), esc(s.reason),
    ].joined(separator: "\t") + "\n"
  }

  static func parse(_ data: Data, _ emit: (RunSummary) -> Void) {
    data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
      let bytes = raw.bindMemory(to: UInt8.self)
      var start = 0
      var bounds: [(Int, Int)] = []
      bounds.reserveCapacity(12)
      while start < bytes.count {
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        defer { start = end + 1 }
        if bytes[start] == 0x23 { continue }  // '#'
        bounds.removeAll(keepingCapacity: true)
        var f = start
        for i in start...end where i == end || bytes[i] == 0x09 {
          bounds.append((f, i))
          f = i + 1
        }
        guard bounds.count >= 10 else { continue }
        func field(_ k: Int) -> UnsafeBufferPointer<UInt8> {
          UnsafeBufferPointer(rebasing: bytes[bounds[k].0..<bounds[k].1])
        }
        func text(_ k: Int) -> String? { bounds[k].0 == bounds[k].1 ? nil : unesc(field(k)) }
        func int(_ k: Int) -> Int? {
          let b = field(k)
          if b.isEmpty { return nil }
          var n = 0
          var neg = false
          for (j, c) in b.enumerated() {
            if j == 0 && c == 0x2D {
              neg = true
              continue
            }
            guard c >= 0x30 && c <= 0x39 else { return nil }
            // Damage may leave any digits: more than an Int holds is no number.
            let (m, o1) = n.multipliedReportingOverflow(by: 10)
            let (sum, o2) = m.addingReportingOverflow(Int(c - 0x30))
            if o1 || o2 { return nil }
            n = sum
          }
          return neg ? -n : n
        }
        guard let state = RunState(rawValue: String(decoding: field(2), as: UTF8.self)) else { continue }
        emit(
          RunSummary(
            id: unesc(field(0)), name: unesc(field(1)), state: state, sweep: text(3), task: text(4),
            jobID: text(5),
            exitCode: int(6), attempt: int(7) ?? 0, ended: text(8), reason: text(9)))
      }
    }
  }
}

extension RunSummary {
  init(
    id: String, name: String, state: RunState, sweep: String?, task: String?, jobID: String?, exitCode: Int?,
    attempt: Int, ended: String?, reason: String?
  ) {
    self.id = id
    self.name = name
    self.state = state
    self.sweep = sweep
    self.task = task
    self.jobID = jobID
    self.exitCode = exitCode
    self.attempt = attempt
    self.ended = ended
    self.reason = reason
  }
}
