import Foundation

/// What a tick works on: sweeps and every run not yet archived.
public struct ActiveState: Equatable, Sendable {
  public var sweeps: [Sweep] = []
  public var runs: [Run] = []
  public var archiveSeq: Int = 0
  public var eventSeq: Int = 0
  public var runSeq: Int = 0

  public init() {}

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

  public func prepare() throws {
    for d in [dir, archiveDir, scriptsDir, exitsDir, eventsDir] {
      try Files.makeDirectory(d, mode: dirMode)
    }
  }

  public var exists: Bool { Files.isDirectory(dir) }

  public func lock() -> ProjectLock { ProjectLock(path: lockPath) }

  // MARK: active state

  public func loadActive() throws -> ActiveState {
    guard Files.exists(activePath) else { return ActiveState() }
    let data = try Files.read(activePath)
    let probe: VersionProbe
    do { probe = try JSONDecoder().decode(VersionProbe.self, from: data) } catch {
      throw StoreError.corrupt(path: activePath, message: "no version field (\(error))")
    }
    guard probe.version == 1 else {
      throw StoreError.unknownVersion(path: activePath, version: probe.version)
    }
    do {
      let f = try JSONDecoder().decode(ActiveFileV1.self, from: data)
      var s = ActiveState()
      s.sweeps = f.sweeps
      s.runs = f.runs
      s.archiveSeq = f.archive_seq
      s.eventSeq = f.event_seq
      s.runSeq = f.run_seq
      return s
    } catch {
      throw StoreError.corrupt(path: activePath, message: "\(error)")
    }
  }

  /// Saves `state`, first moving its finished runs to a new archive segment.
  public func save(_ state: inout ActiveState) throws {
    try prepare()
    let finished = state.runs.filter(\.state.isTerminal)
    if !finished.isEmpty {
      state.archiveSeq += 1
      try writeArchive(seq: state.archiveSeq, runs: finished)
      for r in finished {
        if let i = state.sweeps.firstIndex(where: { $0.id == r.sweep }) {
          state.sweeps[i].archived[r.state.rawValue, default: 0] += 1
        }
      }
      state.runs.removeAll(where: \.state.isTerminal)
    }
    let file = ActiveFileV1(
      version: Self.formatVersion, sweeps: state.sweeps, runs: state.runs,
      archive_seq: state.archiveSeq, event_seq: state.eventSeq, run_seq: state.runSeq)
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    try Files.writeAtomically(activePath, try enc.encode(file), mode: fileMode)
  }

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
      let json = archiveDir + "/" + seg.replacingOccurrences(of: ".tsv", with: ".json")
      let raw = try Files.read(archiveDir + "/" + seg)
      let needle = Array(key.utf8)
      if raw.range(of: Data(needle)) == nil { continue }
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
  public func appendEvents(_ events: [Event], state: inout ActiveState) throws {
    guard !events.isEmpty else { return }
    try prepare()
    var numbered: [Event] = []
    for var e in events {
      state.eventSeq += 1
      e.seq = state.eventSeq
      numbered.append(e)
    }
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    var text = ""
    for e in numbered { text += String(decoding: try enc.encode(e), as: UTF8.self) + "\n" }
    let name = eventsDir + "/" + segmentName(numbered[0].seq) + ".jsonl"
    try Files.writeAtomically(name, text: text, mode: fileMode)
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

  public func appendLog(_ entry: String) throws {
    try prepare()
    var existing = Files.exists(logPath) ? try Files.read(logPath) : Data("# sluice iteration log\n\n".utf8)
    if existing.count > 1 << 20 {
      let stamp = Timestamps.iso(Date()).prefix(19).replacingOccurrences(of: ":", with: "")
      try Files.writeAtomically(dir + "/log-\(stamp).md", existing, mode: fileMode)
      existing = Data("# sluice iteration log\n\n".utf8)
    }
    existing.append(Data(entry.utf8))
    try Files.writeAtomically(logPath, existing, mode: fileMode)
  }
}

/// Tab-separated run summaries with `\t`, `\n` and `\\` escaped.
enum SummaryTSV {
  static func esc(_ s: String?) -> String {
    guard let s else { return "" }
    if !s.contains(where: { $0 == "\t" || $0 == "\n" || $0 == "\\" || $0 == "\r" }) { return s }
    var o = ""
    for c in s {
      switch c {
      case "\t": o += "\\t"
      case "\n": o += "\\n"
      case "\r": o += "\\r"
      case "\\": o += "\\\\"
      default: o.append(c)
      }
    }
    return o
  }

  static func unesc(_ s: Substring) -> String {
    if !s.contains("\\") { return String(s) }
    var o = ""
    var it = s.makeIterator()
    while let c = it.next() {
      if c == "\\", let n = it.next() {
        switch n {
        case "t": o.append("\t")
        case "n": o.append("\n")
        case "r": o.append("\r")
        default: o.append(n)
        }
      } else {
        o.append(c)
      }
    }
    return o
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
      var fields: [Substring] = []
      fields.reserveCapacity(10)
      while start < bytes.count {
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        if bytes[start] != 0x23 {  // '#'
          let line = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
          fields = line.split(separator: "\t", omittingEmptySubsequences: false)
          if fields.count >= 10, let state = RunState(rawValue: String(fields[2])) {
            var s = RunSummary.empty
            s.id = unesc(fields[0])
            s.name = unesc(fields[1])
            s.state = state
            s.sweep = fields[3].isEmpty ? nil : unesc(fields[3])
            s.task = fields[4].isEmpty ? nil : unesc(fields[4])
            s.jobID = fields[5].isEmpty ? nil : unesc(fields[5])
            s.exitCode = Int(fields[6])
            s.attempt = Int(fields[7]) ?? 0
            s.ended = fields[8].isEmpty ? nil : unesc(fields[8])
            s.reason = fields[9].isEmpty ? nil : unesc(fields[9])
            emit(s)
          }
        }
        start = end + 1
      }
    }
  }
}

extension RunSummary {
  static var empty: RunSummary {
    RunSummary(Run(id: "", name: "", command: "", created: ""))
  }
}
