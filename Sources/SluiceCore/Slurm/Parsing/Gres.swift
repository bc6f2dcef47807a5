import FoundationEssentials
import Glibc

/// GRES strings as `sinfo`/`scontrol` print them: `gpu:4`, `gpu:a100:4(S:0-1)`,
/// `gpu:h100:3(IDX:1-3)`, `gpu:(null):0(IDX:N/A)`, `gpu:model_a:2,gpu:model_b:2`,
/// `gpu:quadro:1(S:0),vmem:2G`, `(null)`; and requests such as `gres/gpu:a100:2`.
public enum Gres {
  /// One comma-separated GRES entry.
  public struct Item: Equatable, Sendable {
    /// GRES name (`gpu`, `shard`, `mps`, `vmem`...), without a `gres/`/`gres:` prefix.
    public var name: String
    /// Type, such as `a100`; nil when absent or printed as `(null)`.
    public var type: String?
    /// Count; nil when the entry has none (or it is unreadable, e.g. truncated).
    public var count: Int?
    /// Whether the entry has the `no_consume` flag.
    public var noConsume: Bool

    public init(name: String, type: String? = nil, count: Int? = nil, noConsume: Bool = false) {
      self.name = name
      self.type = type
      self.count = count
      self.noConsume = noConsume
    }
  }

  /// Splits a GRES string into entries. Commas and colons inside parentheses
  /// (`(S:2,7)`, `(IDX:0-1,3)`) do not split; the parenthesised part is dropped.
  /// `(null)`, `N/A` and empty give no entries. Never fails.
  public static func items(_ text: String) -> [Item] {
    let t = SlurmText.trim(text)
    guard SlurmText.nonEmpty(t) != nil else { return [] }
    var out: [Item] = []
    for entry in splitTopLevel(t, ",") {
      let e = SlurmText.trim(entry)
      if e.isEmpty || e == "(null)" { continue }
      var parts = splitTopLevel(e, ":").map { stripParens($0) }
      guard var name = parts.first, !name.isEmpty else { continue }
      if name.hasPrefix("gres/") { name.removeFirst(5) }
      if name == "gres", parts.count > 1 {
        parts.removeFirst()
        name = parts[0]
      }
      parts[0] = name
      let noConsume = parts.contains("no_consume")
      let rest = parts.dropFirst().filter { $0 != "no_consume" }
      var count: Int?
      var type: String?
      if let last = rest.last, let n = countValue(last) {
        count = n
        if rest.count >= 2 { type = rest[rest.startIndex] }
      } else if let first = rest.first {
        type = first
      }
      if type == "(null)" || type == "" { type = nil }
      out.append(Item(name: name, type: type, count: count, noConsume: noConsume))
    }
    return out
  }

  /// Number of GPUs in a node GRES string (`Gres`, `GresUsed`): the sum over every
  /// `gpu` entry, whatever its type. Other GRES (`shard`, `mps`, `vmem`...) are not
  /// counted. An entry whose count is missing or unreadable (a truncated column such
  /// as `gpu:h1`) counts `missingCount`. Never fails.
  public static func gpuCount(_ text: String, missingCount: Int = 0) -> Int {
    items(text).reduce(0) { sum, item in
      guard item.name == "gpu" else { return sum }
      return sum + (item.count ?? missingCount)
    }
  }

  /// GPUs asked for by a request string (`tres-per-job`, `tres-per-node`,
  /// `TresPerNode`): `gres:gpu:2`, `gres/gpu:a100:2`, `gpu:titanxp:1`, `gres/gpu=2`.
  /// A GPU entry without a count (`gpu:rtx2080`) means one. `N/A` is zero.
  public static func requestedGPUs(_ text: String) -> Int {
    var total = 0
    for entry in splitTopLevel(SlurmText.trim(text), ",") {
      let e = SlurmText.trim(entry)
      if let eq = e.firstIndex(of: "=") {
        var key = String(e[..<eq])
        if key.hasPrefix("gres/") { key.removeFirst(5) }
        let name = key.split(separator: ":", omittingEmptySubsequences: false).first ?? ""
        if name == "gpu" { total += countValue(String(e[e.index(after: eq)...])) ?? 0 }
      } else {
        total += gpuCount(e, missingCount: 1)
      }
    }
    return total
  }

  /// A count such as `4`, `2G` (×1024³), `100K`; nil when unreadable.
  static func countValue(_ text: String) -> Int? {
    let t = SlurmText.trim(text)
    if let n = SlurmText.strictInt(t) { return n }
    guard let unit = t.last, let n = SlurmText.strictInt(String(t.dropLast())) else {
      return nil
    }
    let scale: Int
    switch unit {
    case "K", "k": scale = 1 << 10
    case "M", "m": scale = 1 << 20
    case "G", "g": scale = 1 << 30
    case "T", "t": scale = 1 << 40
    default: return nil
    }
    let (value, overflow) = n.multipliedReportingOverflow(by: scale)
    return overflow ? nil : value
  }

  /// Drops a parenthesised tail (`4(S:0-1)` → `4`), but keeps a part that is only a
  /// parenthesised word such as `(null)`.
  static func stripParens(_ part: String) -> String {
    guard let open = part.firstIndex(of: "("), open != part.startIndex else { return part }
    return String(part[..<open])
  }

  /// Splits at `separator` outside parentheses and brackets.
  static func splitTopLevel(_ text: String, _ separator: Character) -> [String] {
    var out: [String] = []
    var current = ""
    var depth = 0
    for ch in text {
      switch ch {
      case "(", "[": depth += 1
      case ")", "]": depth = max(0, depth - 1)
      default: break
      }
      if ch == separator, depth == 0 {
        out.append(current)
        current = ""
      } else {
        current.append(ch)
      }
    }
    out.append(current)
    return out
  }
}

/// TRES strings of the form `cpu=1,mem=500M,node=1,billing=1,gres/gpu=2`
/// (`tres-alloc`, `AllocTRES`, `CfgTRES`, `TRES=`).
public enum Tres {
  /// The `key=value` pairs, in order; entries without `=` are skipped.
  public static func pairs(_ text: String) -> [(key: String, value: String)] {
    Gres.splitTopLevel(SlurmText.trim(text), ",").compactMap { entry in
      guard let eq = entry.firstIndex(of: "=") else { return nil }
      let key = SlurmText.trim(String(entry[..<eq]))
      return key.isEmpty ? nil : (key, SlurmText.trim(String(entry[entry.index(after: eq)...])))
    }
  }

  /// GPUs in a TRES string: the untyped `gres/gpu=N` when present, else the sum of
  /// the typed `gres/gpu:TYPE=N` entries (Slurm prints both, so they are not added).
  /// `gres/gpumem`, `gres/gpuutil` are not GPUs. Empty or `N/A` is zero.
  public static func gpuCount(_ text: String) -> Int {
    var untyped: Int?
    var typed = 0
    for (key, value) in pairs(text) {
      guard key == "gres/gpu" || key.hasPrefix("gres/gpu:") else { continue }
      let n = Gres.countValue(value) ?? 0
      if key == "gres/gpu" { untyped = (untyped ?? 0) + n } else { typed += n }
    }
    return untyped ?? typed
  }
}
