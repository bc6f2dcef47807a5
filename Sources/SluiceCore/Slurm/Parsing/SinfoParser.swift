import FoundationEssentials
import Glibc

/// CPU counts as `sinfo` prints them in `CPUsState` / `%C`: `A/I/O/T`.
public struct CPUsState: Equatable, Sendable {
  public var allocated: Int
  public var idle: Int
  public var other: Int
  public var total: Int

  public init(allocated: Int, idle: Int, other: Int, total: Int) {
    self.allocated = allocated
    self.idle = idle
    self.other = other
    self.total = total
  }
}

/// Parser for `sinfo -h -N -O '...'` node rows.
public enum SinfoParser {
  /// The `-O` fields sluice asks for, in order.
  public static let fields = [
    "NodeList", "Partition", "StateLong", "CPUsState", "Memory", "AllocMem", "Gres", "GresUsed",
  ]

  /// What each recognised field name means. Other names are read and ignored.
  enum Role {
    case name, partition, state, cpus, memory, allocMem, gres, gresUsed
  }

  static func role(_ field: String) -> Role? {
    switch SlurmText.fieldKey(field) {
    case "nodelist", "nodehost", "nodename", "hostnames": return .name
    case "partition", "partitionname": return .partition
    case "statelong", "state", "statecompact": return .state
    case "cpusstate": return .cpus
    case "memory": return .memory
    case "allocmem": return .allocMem
    case "gres": return .gres
    case "gresused": return .gresUsed
    default: return nil
    }
  }

  static let headerWords: Set<String> = ["NODELIST", "HOSTNAMES", "NODE_NAME", "NODENAME", "NODES"]

  /// Parses node rows. `fields` names the columns in order (`-O` names, any case,
  /// width suffixes allowed: `nodehost:100`). Each line is split by `separator` when
  /// it contains it, else by whitespace (fixed-width output). Blank lines, header
  /// lines and `CLUSTER:` banners are ignored; lines with the wrong number of fields,
  /// no node name or an unreadable `CPUsState` are skipped and reported.
  ///
  /// Missing columns give defaults: no partition → `""`; no state → base `.unknown`;
  /// no CPU or memory column → 0 / nil. The partition's trailing `*` sets
  /// `isDefaultPartition`. GPU counts come from `Gres.gpuCount`.
  public static func parseNodes(
    _ text: String, separator: String? = SlurmQueries.fieldSeparator, fields: [String] = fields
  ) -> SlurmParseResult<NodeInfo> {
    let roles = fields.map(role)
    var result = SlurmParseResult<NodeInfo>()
    for (index, line) in SlurmText.lines(text).enumerated() {
      if SlurmColumns.isBlank(line) || SlurmColumns.isClusterBanner(line) { continue }
      let values = SlurmColumns.fields(line, separator: separator, expected: roles.count)
      func skip(_ why: String) {
        result.skipped.append(SkippedLine(lineNumber: index + 1, text: line, reason: why))
      }
      guard values.count == roles.count else {
        skip("expected \(roles.count) fields, found \(values.count)")
        continue
      }
      var column: [Role: String] = [:]
      for (r, v) in zip(roles, values) {
        if let r = r, column[r] == nil { column[r] = v }
      }
      guard let name = column[.name], !name.isEmpty else {
        skip("no node name")
        continue
      }
      if headerWords.contains(name.uppercased()) { continue }
      var node = NodeInfo(name: name, partition: "", state: NodeState.parse(column[.state] ?? ""))
      if var partition = column[.partition] {
        if partition.hasSuffix("*") {
          partition.removeLast()
          node.isDefaultPartition = true
        }
        node.partition = partition
      }
      if let cpuText = column[.cpus] {
        guard let cpus = parseCPUsState(cpuText) else {
          skip("unreadable CPUsState \(cpuText.debugDescription)")
          continue
        }
        node.cpusAllocated = cpus.allocated
        node.cpusIdle = cpus.idle
        node.cpusOther = cpus.other
        node.cpusTotal = cpus.total
      }
      node.memoryMB = column[.memory].flatMap(SlurmText.leadingInt)
      node.allocatedMemoryMB = column[.allocMem].flatMap(SlurmText.leadingInt)
      node.gpusTotal = Gres.gpuCount(column[.gres] ?? "")
      node.gpusUsed = Gres.gpuCount(column[.gresUsed] ?? "")
      result.items.append(node)
    }
    return result
  }

  /// Parses `A/I/O/T` (`16/0/0/16`); nil unless exactly four non-negative integers.
  public static func parseCPUsState(_ text: String) -> CPUsState? {
    let parts = SlurmText.trim(text).split(separator: "/", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    let numbers = parts.compactMap { SlurmText.strictInt(String($0)) }
    guard numbers.count == 4 else { return nil }
    return CPUsState(allocated: numbers[0], idle: numbers[1], other: numbers[2], total: numbers[3])
  }
}
