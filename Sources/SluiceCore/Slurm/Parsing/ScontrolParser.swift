import FoundationEssentials
import Glibc

/// One `scontrol show` record (a node, a job...): its `Key=Value` fields in order.
/// Keys may repeat (a job's per-node `Nodes=` lines).
public struct ScontrolRecord: Equatable, Sendable {
  public struct Field: Equatable, Sendable {
    public var key: String
    public var value: String
    public init(key: String, value: String) {
      self.key = key
      self.value = value
    }
  }

  public var fields: [Field]

  public init(fields: [Field] = []) { self.fields = fields }

  /// The first value for `key`, or nil.
  public subscript(key: String) -> String? {
    fields.first { $0.key == key }?.value
  }

  /// Every value for `key`, in order.
  public func values(_ key: String) -> [String] {
    fields.filter { $0.key == key }.map(\.value)
  }
}

/// Parsers for `scontrol show config`, `scontrol show node` and `scontrol show job`.
public enum ScontrolParser {
  // MARK: show config

  /// Parses `scontrol show config` lines `Key = Value` (split at the first `=`, key
  /// without spaces). Other lines (the `Configuration data as of` banner, section
  /// titles, `Slurmctld(primary) at ... is UP`) are ignored. The first value wins.
  public static func parseConfig(_ text: String) -> [String: String] {
    var out: [String: String] = [:]
    for line in SlurmText.lines(text) {
      guard let eq = line.firstIndex(of: "=") else { continue }
      let key = SlurmText.trim(String(line[..<eq]))
      guard !key.isEmpty, !key.contains(" "), !key.contains("\t") else { continue }
      if out[key] == nil { out[key] = SlurmText.trim(String(line[line.index(after: eq)...])) }
    }
    return out
  }

  /// Fills `maxArraySize` (`MaxArraySize`), `minJobAge` (`MinJobAge`, seconds) and
  /// `messageTimeout` (`MessageTimeout`, seconds) from a parsed config; other fields
  /// of `limits` are kept. Unreadable values leave the field as it was.
  public static func limits(fromConfig config: [String: String], into limits: SlurmLimits = SlurmLimits())
    -> SlurmLimits
  {
    var out = limits
    if let v = config["MaxArraySize"].flatMap(SlurmText.leadingInt) { out.maxArraySize = v }
    if let v = config["MinJobAge"].flatMap(parseSeconds) { out.minJobAge = v }
    if let v = config["MessageTimeout"].flatMap(parseSeconds) { out.messageTimeout = v }
    return out
  }

  /// Reads a config duration: `300 sec`, `300`, `5 min`, `2 hours`, `1 day`; nil otherwise.
  public static func parseSeconds(_ text: String) -> Int? {
    let words = SlurmText.splitWhitespace(text)
    guard let first = words.first, let n = SlurmText.strictInt(first), words.count <= 2 else {
      return nil
    }
    let unit = words.count == 2 ? words[1].lowercased() : "sec"
    let scale: Int
    switch unit {
    case "s", "sec", "secs", "second", "seconds": scale = 1
    case "min", "mins", "minute", "minutes": scale = 60
    case "hour", "hours", "hr", "hrs": scale = 3600
    case "day", "days": scale = 86400
    default: return nil
    }
    let (v, overflow) = n.multipliedReportingOverflow(by: scale)
    return overflow ? nil : v
  }

  // MARK: key=value records

  /// Splits `scontrol show node|job` output into records. Works for the multi-line
  /// form (a record starts on an unindented line; indented lines continue it; blank
  /// lines end it) and for `-o` (one record per line).
  ///
  /// Within a line, each blank-separated word `Key=Value` starts a field; a word
  /// without `=` continues the previous field's value on the same line (so
  /// `OS=Linux 4.14 #1 SMP ...` and `Reason=memory issues? [root@2019-01-29T10:42:12]`
  /// keep their spaces, runs of blanks becoming one), or, first on its line, is a
  /// field with an empty value (`NtasksPerTRES:0`). A value word that itself contains
  /// `=` cannot be told from a new key. Surrounding double quotes are removed.
  public static func parseRecords(_ text: String) -> [ScontrolRecord] {
    var records: [ScontrolRecord] = []
    var current: ScontrolRecord?
    func finish() {
      if let r = current, !r.fields.isEmpty { records.append(r) }
      current = nil
    }
    for line in SlurmText.lines(text) {
      if SlurmColumns.isBlank(line) {
        finish()
        continue
      }
      let indented = line.unicodeScalars.first.map(SlurmText.isBlank) ?? false
      if !indented { finish() }
      var record = current ?? ScontrolRecord()
      current = nil  // keep one reference, so appending does not copy the fields
      let lineBegin = record.fields.count
      var canContinue = false
      for word in SlurmText.splitWhitespace(line) {
        if let eq = word.firstIndex(of: "="), eq != word.startIndex {
          record.fields.append(
            .init(key: String(word[..<eq]), value: String(word[word.index(after: eq)...])))
          canContinue = true
        } else if canContinue {
          record.fields[record.fields.count - 1].value += " " + word
        } else {
          record.fields.append(.init(key: word, value: ""))
        }
      }
      for i in lineBegin..<record.fields.count {
        record.fields[i].value = unquote(record.fields[i].value)
      }
      current = record
    }
    finish()
    return records
  }

  static func unquote(_ value: String) -> String {
    guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else { return value }
    return String(value.dropFirst().dropLast())
  }

  // MARK: show node

  /// Nodes from `scontrol show node` (either form): one `NodeInfo` per partition in
  /// `Partitions=` (like `sinfo -N`), partition `""` when there is none.
  /// Records without `NodeName` are skipped (reported with their index as line).
  public static func parseNodes(_ text: String) -> SlurmParseResult<NodeInfo> {
    var result = SlurmParseResult<NodeInfo>()
    for (i, record) in parseRecords(text).enumerated() {
      let nodes = nodeInfos(from: record)
      if nodes.isEmpty {
        let first = record.fields.first.map { "\($0.key)=\($0.value)" } ?? ""
        result.skipped.append(SkippedLine(lineNumber: i + 1, text: first, reason: "no NodeName"))
      }
      result.items += nodes
    }
    return result
  }

  /// Maps a node record: `State`, `CPUAlloc`/`CPUTot`, `RealMemory`/`AllocMem`,
  /// GPUs from `Gres` (else `CfgTRES`) and used GPUs from `GresUsed` (else
  /// `AllocTRES`). CPUs not allocated count as idle, or as other when the node is
  /// down, drained/draining or failing (as `sinfo` shows them). `isDefaultPartition`
  /// is always false: `scontrol show node` does not say.
  public static func nodeInfos(from record: ScontrolRecord) -> [NodeInfo] {
    guard let name = record["NodeName"], !name.isEmpty else { return [] }
    let state = NodeState.parse(record["State"] ?? "")
    let allocated = record["CPUAlloc"].flatMap(SlurmText.strictInt) ?? 0
    let total = record["CPUTot"].flatMap(SlurmText.strictInt) ?? 0
    let free = max(0, total - allocated)
    let unavailable: Set<NodeState.Base> = [.down, .drained, .draining, .fail, .failing]
    let other =
      unavailable.contains(state.base) || !state.flags.isDisjoint(with: ["drain", "fail"])
    var gpus = Gres.gpuCount(record["Gres"] ?? "")
    if gpus == 0 { gpus = Tres.gpuCount(record["CfgTRES"] ?? "") }
    let used =
      record["GresUsed"].map { Gres.gpuCount($0) } ?? Tres.gpuCount(record["AllocTRES"] ?? "")
    let partitions = (record["Partitions"] ?? "").split(separator: ",").map {
      SlurmText.trim(String($0))
    }.filter { !$0.isEmpty }
    return (partitions.isEmpty ? [""] : partitions).map { partition in
      NodeInfo(
        name: name, partition: partition, state: state, cpusAllocated: allocated,
        cpusIdle: other ? 0 : free, cpusOther: other ? free : 0, cpusTotal: total,
        memoryMB: record["RealMemory"].flatMap(SlurmText.leadingInt),
        allocatedMemoryMB: record["AllocMem"].flatMap(SlurmText.leadingInt), gpusTotal: gpus,
        gpusUsed: used)
    }
  }

  // MARK: show job

  /// Maps a `scontrol show job` record to a `QueuedJob`: id from `JobId`, or
  /// `ArrayJobId`+`ArrayTaskId`, or `HetJobId`+`HetJobOffset`; GPUs from `TRES`
  /// (allocated when running, requested when pending), else `TresPerJob`, else
  /// `TresPerNode` × `NumNodes`; user from `UserId=name(uid)`. Nil without a `JobId`.
  public static func queuedJob(from record: ScontrolRecord) -> QueuedJob? {
    guard let jobID = record["JobId"].flatMap({ JobID.parse($0) }) else { return nil }
    var id = jobID
    if let arrayBase = record["ArrayJobId"].flatMap({ JobID.parse($0)?.base }),
      let taskText = record["ArrayTaskId"]
    {
      if let task = SlurmText.strictInt(taskText) {
        id = JobID(base: arrayBase, arrayTask: task)
      } else if JobID.isArrayRange(taskText) {
        id = JobID(base: arrayBase, arrayRange: taskText)
      }
    } else if let hetBase = record["HetJobId"].flatMap({ JobID.parse($0)?.base }),
      let offset = record["HetJobOffset"].flatMap(SlurmText.strictInt)
    {
      id = JobID(base: hetBase, hetOffset: offset)
    }
    var gpus = Tres.gpuCount(record["TRES"] ?? "")
    if gpus == 0 { gpus = Gres.requestedGPUs(record["TresPerJob"] ?? "") }
    if gpus == 0 {
      let nodes = max(1, record["NumNodes"].flatMap(SlurmText.leadingInt) ?? 1)
      let (v, overflow) = Gres.requestedGPUs(record["TresPerNode"] ?? "")
        .multipliedReportingOverflow(by: nodes)
      gpus = overflow ? 0 : v
    }
    let user = record["UserId"].map { u in
      u.firstIndex(of: "(").map { String(u[..<$0]) } ?? u
    }
    return QueuedJob(
      id: id, rawID: id.description, name: record["JobName"] ?? "",
      state: (record["JobState"] ?? "").uppercased(), reason: record["Reason"] ?? "",
      partition: record["Partition"] ?? "", gpus: gpus,
      submitTime: record["SubmitTime"].flatMap(SlurmText.nonEmpty),
      startTime: record["StartTime"].flatMap(SlurmText.nonEmpty),
      user: user.flatMap(SlurmText.nonEmpty), jobIDRaw: jobID.base)
  }
}
