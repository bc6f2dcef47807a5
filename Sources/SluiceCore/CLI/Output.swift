import FoundationEssentials
import Glibc

/// Where the front end writes. Tests capture it; the binary writes to stdout/stderr.
public final class Output: @unchecked Sendable {
  public var out: (String) -> Void
  /// Raw bytes (large outputs); defaults to `out`.
  public var outBytes: (([UInt8]) -> Void)?
  public var err: (String) -> Void
  public var color: Bool

  public init(out: @escaping (String) -> Void, err: @escaping (String) -> Void, color: Bool) {
    self.out = out
    self.err = err
    self.color = color
  }

  public static func standard(noColor: Bool, environment: [String: String]) -> Output {
    let tty = isatty(1) == 1
    let color = tty && !noColor && environment["NO_COLOR"] == nil && environment["TERM"] != "dumb"
    let o = Output(
      out: { s in writeAll(1, Array(s.utf8)) },
      err: { s in writeAll(2, Array(s.utf8)) }, color: color)
    o.outBytes = { b in writeAll(1, b) }
    return o
  }

  /// Writes until done or the descriptor fails. SIGPIPE is ignored (see main): a
  /// reader that went away (`sluice runs | head`) ends the output, not the process.
  static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
      var off = 0
      while off < raw.count {
        let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        off += n
      }
    }
  }

  public func line(_ s: String = "") { out(s + "\n") }

  public func write(_ bytes: [UInt8]) {
    if let w = outBytes { w(bytes) } else { out(String(decoding: bytes, as: UTF8.self)) }
  }
  public func error(_ s: String) { err(s + "\n") }

  public func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

  public func json(_ value: Any) {
    out(JSON.string(value) + "\n")
  }

  public func json(_ value: JSONValue) {
    var w = JSONWriter()
    w.write(value, indent: 0)
    w.out.append(0x0A)
    write(w.out.array)
  }

  /// Aligned columns; the last column is not padded.
  public func table(_ header: [String], _ rows: [[String]]) {
    out(Table.render(header, rows))
  }
}

public enum Table {
  /// Display width: one column per Unicode scalar (good enough for names and paths).
  static func width(_ s: String) -> Int { s.unicodeScalars.count }

  public static func render(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(width)
    for r in rows {
      for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], width(c)) }
    }
    var out: [UInt8] = []
    out.reserveCapacity((rows.count + 1) * 80)
    func line(_ r: [String]) {
      let start = out.count
      for (i, c) in r.enumerated() {
        if i > 0 { out.append(contentsOf: [0x20, 0x20]) }
        out.append(contentsOf: c.utf8)
        if i < r.count - 1 && i < widths.count {
          for _ in 0..<max(0, widths[i] - width(c)) { out.append(0x20) }
        }
      }
      while out.count > start && out.last == 0x20 { out.removeLast() }
      out.append(0x0A)
    }
    line(header)
    for r in rows { line(r) }
    return String(decoding: out, as: UTF8.self)
  }
}

/// A JSON value whose types are known as it is built, so writing it takes no
/// dynamic casts: a tick's `--json` over 1,000 submitted runs spent ~50 M
/// instructions casting and bridging `Any`s (most of the time past the submit).
/// Objects are written with their keys sorted, like the `Any` ones.
public indirect enum JSONValue: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral
{
  case null
  case bool(Bool)
  case int(Int)
  case string(String)
  case strings([String])
  case array([JSONValue])
  case object([(String, JSONValue)])
  /// Objects of two string fields, keys in sorted order, as `.array` of `.object`s
  /// writes them: a tick's 1,000 submitted runs, without 3,000 boxed values.
  case pairs(String, String, [(String, String)])

  public init(_ s: String?) { self = s.map { .string($0) } ?? .null }
  public init(_ i: Int?) { self = i.map { .int($0) } ?? .null }
  public init(stringLiteral s: String) { self = .string(s) }
  public init(integerLiteral i: Int) { self = .int(i) }
  public init(booleanLiteral b: Bool) { self = .bool(b) }
  public init(dictionaryLiteral pairs: (String, JSONValue)...) { self = .object(pairs) }
  public init(arrayLiteral items: JSONValue...) { self = .array(items) }
}

/// Stable JSON: sorted keys, `null` for missing values, two-space indentation.
/// A small streaming writer: `sluice runs --json` over 100,000 runs must stay
/// well under a second, which Foundation's serializer does not.
public enum JSON {
  public static func string(_ value: Any) -> String {
    var w = JSONWriter()
    w.write(value, indent: 0)
    return w.out.string
  }

  public static func string(_ value: JSONValue) -> String {
    var w = JSONWriter()
    w.write(value, indent: 0)
    return w.out.string
  }
}

struct JSONWriter {
  let out: ByteBuffer

  /// Run summaries, written field by field (no dictionaries): the fast path of
  /// `sluice runs --json`. Same shape and key order as `JSON.string`.
  static func summaries(_ list: [RunSummary]) -> String {
    var out = ""
    summaries(list) { out += String(decoding: $0, as: UTF8.self) }
    return out
  }

  /// Streams the summaries in chunks of about 256 KiB, so memory stays flat
  /// however many runs there are.
  static func summaries(_ list: [RunSummary], emit: ([UInt8]) -> Void) {
    var w = JSONWriter(capacity: (1 << 18) + 4096)
    if list.isEmpty {
      emit(Array("[]\n".utf8))
      return
    }
    w.raw("[")
    for (i, s) in list.enumerated() {
      if i > 0 { w.raw(",") }
      if w.out.count > 1 << 18 {
        emit(w.out.array)
        w.out.removeAll()
      }
      w.newline(2)
      w.raw("{")
      w.key("attempt", first: true)
      w.int(s.attempt)
      w.key("ended")
      w.optional(s.ended)
      w.key("exit_code")
      if let c = s.exitCode { w.int(c) } else { w.raw("null") }
      w.key("id")
      w.string(s.id)
      w.key("job_id")
      w.optional(s.jobID)
      w.key("name")
      w.string(s.name)
      w.key("reason")
      w.optional(s.reason)
      w.key("state")
      w.string(s.state.rawValue)
      w.key("sweep")
      w.optional(s.sweep)
      w.key("task")
      w.optional(s.task)
      w.newline(2)
      w.raw("}")
    }
    w.newline(0)
    w.raw("]")
    w.out.append(0x0A)
    emit(w.out.array)
  }

  mutating func key(_ k: StaticString, first: Bool = false) {
    if !first { raw(",") }
    newline(4)
    out.append(0x22)
    raw(k)
    raw("\" : ")
  }

  mutating func optional(_ s: String?) {
    if let s { string(s) } else { raw("null") }
  }

  init(capacity: Int = 1 << 16) { out = ByteBuffer(capacity: capacity) }

  mutating func raw(_ s: StaticString) {
    out.append(s)
  }

  /// Decimal digits, made in place (`String(v).utf8` builds a String to copy).
  mutating func int(_ v: Int) {
    if v >= 0 && v < 10 {
      out.append(0x30 &+ UInt8(truncatingIfNeeded: v))
      return
    }
    withDecimalDigits(v) { out.append($0) }
  }

  mutating func newline(_ indent: Int) {
    out.append(0x0A)
    for _ in 0..<indent { out.append(0x20) }
  }

  mutating func string(_ s: String) {
    out.append(0x22)
    // On the contiguous bytes: scanning and copying a String's UTF8View element by
    // element was most of the cost of saving 1,000 runs.
    let plain = s.utf8.withContiguousStorageIfAvailable { buf -> Bool in
      if Self.needsEscape(buf) { return false }
      out.append(buf)
      return true
    }
    if plain == true {
      out.append(0x22)
      return
    }
    for b in s.utf8 {
      switch b {
      case 0x22: raw("\\\"")
      case 0x5C: raw("\\\\")
      case 0x0A: raw("\\n")
      case 0x0D: raw("\\r")
      case 0x09: raw("\\t")
      case 0..<0x20:
        let hex = Array("0123456789abcdef".utf8)
        out.append([0x5C, 0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]])
      default: out.append(b)
      }
    }
    out.append(0x22)
  }

  /// Whether `buf` has a byte JSON must escape (a control byte, `"` or `\`),
  /// tested eight bytes at a time: a state file has ~30,000 strings to check.
  static func needsEscape(_ buf: UnsafeBufferPointer<UInt8>) -> Bool {
    guard let base = buf.baseAddress else { return false }
    let n = buf.count
    var i = 0
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    // A byte of x is zero: (x - ones) & ~x & highs is non-zero (exact for "any").
    @inline(__always) func hasZero(_ x: UInt64) -> Bool { (x &- ones) & ~x & highs != 0 }
    while i + 8 <= n {
      let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
      // Some byte < 0x20 (bytes >= 0x80 never count), or == '"', or == '\\'.
      if (x &- ones &* 0x20) & ~x & highs != 0 || hasZero(x ^ (ones &* 0x22)) || hasZero(x ^ (ones &* 0x5C)) {
        return true
      }
      i += 8
    }
    while i < n {
      let b = base[i]
      if b < 0x20 || b == 0x22 || b == 0x5C { return true }
      i += 1
    }
    return false
  }

  mutating func write(_ value: JSONValue, indent: Int) {
    switch value {
    case .null: raw("null")
    case .bool(let b): raw(b ? "true" : "false")
    case .int(let i): int(i)
    case .string(let s): string(s)
    case .strings(let a): array(a.count, indent: indent) { w, i, _ in w.string(a[i]) }
    case .array(let a): array(a.count, indent: indent) { w, i, ind in w.write(a[i], indent: ind) }
    case .object(let pairs): object(pairs, indent: indent) { w, v, ind in w.write(v, indent: ind) }
    case .pairs(let k1, let k2, let rows):
      array(rows.count, indent: indent) { w, i, ind in
        w.raw("{")
        w.newline(ind + 2)
        w.string(k1)
        w.raw(" : ")
        w.string(rows[i].0)
        w.raw(",")
        w.newline(ind + 2)
        w.string(k2)
        w.raw(" : ")
        w.string(rows[i].1)
        w.newline(ind)
        w.raw("}")
      }
    }
  }

  mutating func write(_ value: Any?, indent: Int) {
    guard let value else {
      raw("null")
      return
    }
    switch value {
    case let v as JSONValue: write(v, indent: indent)
    case let s as String: string(s)
    case let b as Bool: raw(b ? "true" : "false")
    case let i as Int: int(i)
    case let i as Int32: int(Int(i))
    case let u as UInt64: out.append(Array(String(u).utf8))
    case let d as Double: out.append(Array((d.isFinite ? String(d) : "null").utf8))
    // Exact types before the general ones: casting [[String: String]] to [Any?] (a
    // tick's 1,000 submitted runs) boxes every element and cost ~10 ms.
    case let a as [[String: String]]:
      array(a.count, indent: indent) { w, i, ind in w.write(a[i], indent: ind) }
    case let d as [String: String]: object(d.map { ($0.key, Optional($0.value as Any)) }, indent: indent)
    case let d as [String: Any?]: object(d.map { ($0.key, $0.value) }, indent: indent)
    case let d as [String: Any]: object(d.map { ($0.key, Optional($0.value)) }, indent: indent)
    case let d as [String: Int]: object(d.map { ($0.key, Optional($0.value as Any)) }, indent: indent)
    case let a as [Any?]: array(a, indent: indent)
    case let a as [Any]: array(a.map { Optional($0) }, indent: indent)
    case let o as Optional<Any>:
      if let inner = o { write(inner, indent: indent) } else { raw("null") }
    default: string("\(value)")
    }
  }

  mutating func object(_ pairs: [(String, Any?)], indent: Int) {
    object(pairs, indent: indent) { w, v, ind in w.write(v, indent: ind) }
  }

  /// `{"k" : v, ...}` with the keys sorted; pairs made in key order (the tick's
  /// typed ones are) are written as they come.
  mutating func object<V>(_ pairs: [(String, V)], indent: Int, _ value: (inout JSONWriter, V, Int) -> Void) {
    if pairs.isEmpty {
      raw("{}")
      return
    }
    let inOrder = zip(pairs, pairs.dropFirst()).allSatisfy { $0.0 < $1.0 }
    raw("{")
    var first = true
    for (k, v) in inOrder ? pairs : pairs.sorted(by: { $0.0 < $1.0 }) {
      if !first { raw(",") }
      first = false
      newline(indent + 2)
      string(k)
      raw(" : ")
      value(&self, v, indent + 2)
    }
    newline(indent)
    raw("}")
  }

  mutating func array(_ count: Int, indent: Int, _ item: (inout JSONWriter, Int, Int) -> Void) {
    if count == 0 {
      raw("[]")
      return
    }
    raw("[")
    for i in 0..<count {
      if i > 0 { raw(",") }
      newline(indent + 2)
      item(&self, i, indent + 2)
    }
    newline(indent)
    raw("]")
  }

  mutating func array(_ items: [Any?], indent: Int) {
    if items.isEmpty {
      raw("[]")
      return
    }
    raw("[")
    for (i, v) in items.enumerated() {
      if i > 0 { raw(",") }
      newline(indent + 2)
      write(v, indent: indent + 2)
    }
    newline(indent)
    raw("]")
  }
}
