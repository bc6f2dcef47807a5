import FoundationEssentials
import Glibc

/// Parser for `squeue -h -r -O '...'` job rows.
public enum SqueueParser {
  /// The `-O` fields sluice asks for, in order.
  public static let fields = [
    "JobID", "ArrayJobID", "ArrayTaskID", "Name", "State", "Reason", "Partition", "tres-per-job",
    "tres-per-node", "tres-alloc", "SubmitTime", "StartTime", "UserName",
  ]

  enum Role: Int, CaseIterable {
    case jobID, jobArrayID, arrayJobID, arrayTaskID, name, state, stateCompact, reason, reasonList
    case partition, tresPerJob, tresPerNode, tresAlloc, numNodes, submitTime, startTime, user
  }

  /// One row's values by role (the first column of each role wins).
  struct Row {
    var values = [String?](repeating: nil, count: Role.allCases.count)
    subscript(_ r: Role) -> String? {
      get { values[r.rawValue] }
      set { values[r.rawValue] = newValue }
    }
  }

  static func role(_ field: String) -> Role? {
    switch SlurmText.fieldKey(field) {
    case "jobid": return .jobID
    case "jobarrayid": return .jobArrayID
    case "arrayjobid": return .arrayJobID
    case "arraytaskid": return .arrayTaskID
    case "name", "jobname": return .name
    case "state", "statelong": return .state
    case "statecompact", "st": return .stateCompact
    case "reason": return .reason
    case "reasonlist", "nodelist(reason)": return .reasonList
    case "partition": return .partition
    case "tresperjob": return .tresPerJob
    case "trespernode": return .tresPerNode
    case "tresalloc": return .tresAlloc
    case "numnodes", "nodes": return .numNodes
    case "submittime": return .submitTime
    case "starttime": return .startTime
    case "username", "user": return .user
    default: return nil
    }
  }

  /// Long names of the compact states `squeue` prints in `StateCompact` / `%t`.
  public static let compactStates: [String: String] = [
    "PD": "PENDING", "R": "RUNNING", "CG": "COMPLETING", "CD": "COMPLETED", "F": "FAILED",
    "TO": "TIMEOUT", "CA": "CANCELLED", "NF": "NODE_FAIL", "OOM": "OUT_OF_MEMORY",
    "PR": "PREEMPTED", "S": "SUSPENDED", "ST": "STOPPED", "BF": "BOOT_FAIL", "CF": "CONFIGURING",
    "DL": "DEADLINE", "RD": "RESV_DEL_HOLD", "RF": "REQUEUE_FED", "RH": "REQUEUE_HOLD",
    "RQ": "REQUEUED", "RS": "RESIZING", "RV": "REVOKED", "SI": "SIGNALING", "SE": "SPECIAL_EXIT",
    "SO": "STAGE_OUT",
  ]

  /// Parses job rows. `fields` names the columns in order (`-O` names, any case).
  /// Lines are split by `separator` when they contain it, else by whitespace. Blank
  /// lines, `CLUSTER:` banners and header lines (`JOBID` in the id column) are
  /// ignored; lines with the wrong field count or no readable job id are skipped.
  ///
  /// The id: `JobArrayID` (`%i` form) when present; else `JobID`, which is used
  /// whole when compound (`93+0`, `123_7`), and otherwise combined with
  /// `ArrayJobID` + `ArrayTaskID` (`N/A` = not an array; a number = one task; a
  /// range such as `4-9%3` = pending tasks). `rawID` is the `%i`-style text;
  /// `jobIDRaw` the plain number in `JobID`, when it is one.
  ///
  /// GPUs: the `gres/gpu` count in `tres-alloc` when non-zero (the job has its
  /// allocation), else `tres-per-job`, else `tres-per-node` times `NumNodes` (1 when
  /// that column is absent). `State` is upper-cased (a `StateCompact` column alone is
  /// expanded); `Reason` is kept as printed (`None` included); times `N/A`,
  /// `Unknown`, `None`, `(null)` become nil.
  public static func parse(
    _ text: String, separator: String? = SlurmQueries.fieldSeparator, fields: [String] = fields
  ) -> SlurmParseResult<QueuedJob> {
    parse(text, separator: separator, fields: fields, fast: true)
  }

  /// `fast`: read lines in sluice's own layout (`fields`) straight from the bytes,
  /// falling back to the general reader for any line it does not fit; the tests
  /// check both give the same result.
  /// Each column's role, and whether it is the first column of that role (later
  /// duplicates are ignored).
  struct Layout {
    let roles: [Role?]
    let firstOfRole: [Bool]

    init(_ fields: [String]) {
      roles = fields.map(SqueueParser.role)
      var first = [Bool](repeating: false, count: roles.count)
      var seen = Set<Role>()
      for (i, r) in roles.enumerated() {
        if let r, !seen.contains(r) {
          seen.insert(r)
          first[i] = true
        }
      }
      firstOfRole = first
    }
  }
  static let ownLayout = Layout(fields)

  static func parse(
    _ text: String, separator: String?, fields: [String], fast: Bool
  ) -> SlurmParseResult<QueuedJob> {
    // sluice's own layout is worked out once (squeue's answer is read in pieces,
    // each parsed on its own).
    let layout = fields == Self.fields ? Self.ownLayout : Layout(fields)
    let roles = layout.roles
    let firstOfRole = layout.firstOfRole
    let ownLayout = fast && fields == Self.fields
    var result = SlurmParseResult<QueuedJob>()
    var recent = RecentFields()
    var text = text
    text.makeContiguousUTF8()
    let sep = Array((separator ?? "").utf8)
    text.utf8.withContiguousStorageIfAvailable { bytes in
      var ranges: [Range<Int>] = []
      ranges.reserveCapacity(roles.count + 1)
      var lineNumber = 0
      var start = 0
      while start < bytes.count {
        lineNumber += 1
        var end = start
        while end < bytes.count && bytes[end] != 0x0A { end += 1 }
        let next = end + 1
        if end > start && bytes[end - 1] == 0x0D { end -= 1 }
        let lineRange = start..<end
        start = next
        let line = trimmed(bytes, lineRange)
        if line.isEmpty { continue }
        if hasPrefix(bytes, line, "CLUSTER: ") { continue }
        // Split at the separator on bytes; a line without it goes the generic (whitespace) way.
        ranges.removeAll(keepingCapacity: true)
        if !sep.isEmpty, split(bytes, lineRange, sep, into: &ranges) {
          if ranges.count > 1, trimmed(bytes, ranges[ranges.count - 1]).isEmpty, ranges.count != roles.count {
            ranges.removeLast()
          }
        } else {
          ranges = []
        }
        if ownLayout, ranges.count == roles.count, let job = fastJob(bytes, ranges, recent: &recent) {
          result.items.append(job)
          continue
        }
        var row = Row()
        var count = ranges.count
        if ranges.isEmpty {
          let values = SlurmColumns.fields(
            string(bytes, lineRange), separator: separator, expected: roles.count)
          count = values.count
          if count == roles.count {
            for (i, v) in values.enumerated() where firstOfRole[i] { row[roles[i]!] = v }
          }
        } else if count == roles.count {
          for i in 0..<count where firstOfRole[i] {
            row[roles[i]!] = string(bytes, trimmed(bytes, ranges[i]))
          }
        }
        guard count == roles.count else {
          result.skipped.append(
            SkippedLine(
              lineNumber: lineNumber, text: string(bytes, lineRange),
              reason: "expected \(roles.count) fields, found \(count)"))
          continue
        }
        if let item = job(row, lineNumber: lineNumber, line: { string(bytes, lineRange) }, result: &result) {
          result.items.append(item)
        }
      }
    }
    return result
  }

  static func job(
    _ row: Row, lineNumber: Int, line: () -> String, result: inout SlurmParseResult<QueuedJob>
  ) -> QueuedJob? {
    let idText = row[.jobArrayID] ?? row[.jobID] ?? ""
    if idText.utf8.count == 5 && idText.uppercased() == "JOBID" { return nil }
    guard let id = resolveID(row) else {
      result.skipped.append(
        SkippedLine(
          lineNumber: lineNumber, text: line(), reason: "unreadable job id \(idText.debugDescription)"))
      return nil
    }
    let rawID = row[.jobArrayID].flatMap { JobID.parse($0) != nil ? SlurmText.trim($0) : nil }
    var state = SlurmText.upperASCII(row[.state] ?? "")
    if state.isEmpty, let compact = row[.stateCompact].map(SlurmText.upperASCII) {
      state = compactStates[compact] ?? compact
    }
    var reason = row[.reason] ?? ""
    if reason.isEmpty, let list = row[.reasonList], list.hasPrefix("("), list.hasSuffix(")") {
      reason = String(list.dropFirst().dropLast())
    }
    return QueuedJob(
      id: id, rawID: rawID ?? id.description, name: row[.name] ?? "", state: state,
      reason: reason, partition: row[.partition] ?? "", gpus: gpus(row),
      submitTime: row[.submitTime].flatMap(SlurmText.nonEmpty),
      startTime: row[.startTime].flatMap(SlurmText.nonEmpty),
      user: row[.user].flatMap(SlurmText.nonEmpty),
      jobIDRaw: row[.jobID].flatMap { SlurmText.strictInt(SlurmText.trim($0)) })
  }

  /// A row in sluice's own layout read from its byte ranges, or nil when any field
  /// is unusual (not plain digits, a range, a GPU request): the general reader
  /// then takes the line.
  static func fastJob(_ b: UnsafeBufferPointer<UInt8>, _ f: [Range<Int>]) -> QueuedJob? {
    var recent = RecentFields()
    return fastJob(b, f, recent: &recent)
  }

  /// The String last made for each column, by the bytes it came from: an array's
  /// tasks share their name, state, reason, partition, times and user line after
  /// line, and comparing a few bytes costs less than making a String again.
  struct RecentFields {
    var ranges = [Range<Int>](repeating: 0..<0, count: 16)
    var values = [String?](repeating: nil, count: 16)

    mutating func text(_ b: UnsafeBufferPointer<UInt8>, _ k: Int, _ r: Range<Int>) -> String {
      if let v = values[k], ranges[k].count == r.count,
        r.isEmpty
          || memcmp(b.baseAddress! + ranges[k].lowerBound, b.baseAddress! + r.lowerBound, r.count) == 0
      {
        return v
      }
      let v = string(b, r)
      ranges[k] = r
      values[k] = v
      return v
    }
  }

  static func fastJob(
    _ b: UnsafeBufferPointer<UInt8>, _ f: [Range<Int>], recent: inout RecentFields
  ) -> QueuedJob? {
    // 0 JobID, 1 ArrayJobID, 2 ArrayTaskID, 3 Name, 4 State, 5 Reason, 6 Partition,
    // 7 tres-per-job, 8 tres-per-node, 9 tres-alloc, 10 SubmitTime, 11 StartTime, 12 UserName
    let jobRange = trimmed(b, f[0])
    guard let jobID = digits(b, jobRange) else { return nil }
    let taskRange = trimmed(b, f[2])
    let id: JobID
    if isNullWord(b, taskRange) {
      id = JobID(base: jobID)
    } else {
      guard let task = digits(b, taskRange), let array = digits(b, trimmed(b, f[1])) else { return nil }
      id = JobID(base: array, arrayTask: task)
    }
    for k in 7...9 where mentionsGPU(b, f[k]) { return nil }
    let stateRange = trimmed(b, f[4])
    var lower = false
    for k in stateRange {
      if b[k] >= 0x80 { return nil }
      if b[k] >= 0x61 && b[k] <= 0x7A { lower = true }
    }
    let state: String
    if lower {
      var upper = [UInt8](UnsafeBufferPointer(rebasing: b[stateRange]))
      for k in upper.indices where upper[k] >= 0x61 && upper[k] <= 0x7A { upper[k] -= 0x20 }
      state = String(decoding: upper, as: UTF8.self)
    } else {
      state = recent.text(b, 4, stateRange)
    }
    func text(_ k: Int) -> String { recent.text(b, k, trimmed(b, f[k])) }
    func optional(_ k: Int) -> String? {
      let r = trimmed(b, f[k])
      return isNullWord(b, r) ? nil : recent.text(b, k, r)
    }
    return QueuedJob(
      id: id, rawID: id.arrayTask.map { "\(id.base)_\($0)" } ?? String(id.base), name: text(3),
      state: state, reason: text(5), partition: text(6), gpus: 0,
      submitTime: optional(10), startTime: optional(11), user: optional(12), jobIDRaw: jobID)
  }

  static func digits(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Int? {
    SlurmText.digits(UnsafeBufferPointer(rebasing: b[r]))
  }

  /// `SlurmText.nonEmpty`'s test on bytes: no value.
  static func isNullWord(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
    SlurmText.isNullWord(UnsafeBufferPointer(rebasing: b[r]))
  }

  static func mentionsGPU(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Bool {
    mentionsGPU(UnsafeBufferPointer(rebasing: b[r]))
  }

  // Byte helpers for the one-pass reader.

  static func trimmed(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> Range<Int> {
    var lo = r.lowerBound
    var hi = r.upperBound
    while lo < hi && SlurmText.isEdge(b[lo]) { lo += 1 }
    while hi > lo && SlurmText.isEdge(b[hi - 1]) { hi -= 1 }
    return lo..<hi
  }

  static func hasPrefix(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ p: StaticString) -> Bool {
    let n = p.utf8CodeUnitCount
    guard r.count >= n else { return false }
    for k in 0..<n where b[r.lowerBound + k] != p.utf8Start[k] { return false }
    return true
  }

  /// Splits `r` at each occurrence of `sep`; false (and nothing added) when there is none.
  static func split(
    _ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>, _ sep: [UInt8], into out: inout [Range<Int>]
  ) -> Bool {
    let first = sep[0]
    var fieldStart = r.lowerBound
    var i = r.lowerBound
    var found = false
    while i + sep.count <= r.upperBound {
      if b[i] == first && (sep.count == 1 || (1..<sep.count).allSatisfy { b[i + $0] == sep[$0] }) {
        out.append(fieldStart..<i)
        i += sep.count
        fieldStart = i
        found = true
      } else {
        i += 1
      }
    }
    guard found else { return false }
    out.append(fieldStart..<r.upperBound)
    return true
  }

  static func string(_ b: UnsafeBufferPointer<UInt8>, _ r: Range<Int>) -> String {
    String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self)
  }

  static func resolveID(_ column: Row) -> JobID? {
    if let text = column[.jobArrayID], let id = JobID.parse(text) { return id }
    guard let text = column[.jobID], let id = JobID.parse(text) else { return nil }
    guard id.arrayTask == nil, id.arrayRange == nil, id.hetOffset == nil else { return id }
    guard let taskText = column[.arrayTaskID].flatMap(SlurmText.nonEmpty) else { return id }
    let base = column[.arrayJobID].flatMap { JobID.parse($0)?.base } ?? id.base
    if let task = SlurmText.strictInt(taskText) { return JobID(base: base, arrayTask: task) }
    if JobID.isArrayRange(taskText) { return JobID(base: base, arrayRange: taskText) }
    return nil
  }

  /// Whether a TRES/GRES string names a GPU at all: most jobs' fields do not,
  /// and skipping their full parse keeps a 1,000-job squeue cheap.
  static func mentionsGPU(_ text: String?) -> Bool {
    guard let text else { return false }
    return mentionsGPU(text.utf8)
  }

  static func mentionsGPU<C: Collection<UInt8>>(_ bytes: C) -> Bool {
    var prev2: UInt8 = 0
    var prev1: UInt8 = 0
    for b in bytes {
      let c = b | 0x20
      if prev2 == 0x67 && prev1 == 0x70 && c == 0x75 { return true }  // "gpu", any case
      prev2 = prev1
      prev1 = c
    }
    return false
  }

  static func gpus(_ column: Row) -> Int {
    if !mentionsGPU(column[.tresAlloc]) && !mentionsGPU(column[.tresPerJob])
      && !mentionsGPU(column[.tresPerNode])
    {
      return 0
    }
    let allocated = Tres.gpuCount(column[.tresAlloc] ?? "")
    if allocated > 0 { return allocated }
    let perJob = Gres.requestedGPUs(column[.tresPerJob] ?? "")
    if perJob > 0 { return perJob }
    let nodes = max(1, column[.numNodes].flatMap(SlurmText.leadingInt) ?? 1)
    let (total, overflow) = Gres.requestedGPUs(column[.tresPerNode] ?? "")
      .multipliedReportingOverflow(by: nodes)
    return overflow ? 0 : total
  }
}
