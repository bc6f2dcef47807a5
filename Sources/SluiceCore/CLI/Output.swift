import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Where the front end writes. Tests capture it; the binary writes to stdout/stderr.
public final class Output: @unchecked Sendable {
  public var out: (String) -> Void
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
    return Output(
      out: { s in FileHandle.standardOutput.write(Data(s.utf8)) },
      err: { s in FileHandle.standardError.write(Data(s.utf8)) }, color: color)
  }

  public func line(_ s: String = "") { out(s + "\n") }
  public func error(_ s: String) { err(s + "\n") }

  public func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }

  public func json(_ value: Any) {
    out(JSON.string(value) + "\n")
  }

  /// Aligned columns; the last column is not padded.
  public func table(_ header: [String], _ rows: [[String]]) {
    out(Table.render(header, rows))
  }
}

public enum Table {
  public static func render(_ header: [String], _ rows: [[String]]) -> String {
    var widths = header.map(\.count)
    for r in rows {
      for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) }
    }
    func fmt(_ r: [String]) -> String {
      var parts: [String] = []
      for (i, c) in r.enumerated() {
        if i == r.count - 1 {
          parts.append(c)
        } else {
          parts.append(c + String(repeating: " ", count: max(0, widths[i] - c.count)))
        }
      }
      return parts.joined(separator: "  ").replacingOccurrences(
        of: "\\s+$", with: "", options: .regularExpression)
    }
    var s = fmt(header) + "\n"
    for r in rows { s += fmt(r) + "\n" }
    return s
  }
}

/// Stable JSON: sorted keys, `null` for missing values.
public enum JSON {
  public static func string(_ value: Any) -> String {
    let v = normalize(value)
    guard JSONSerialization.isValidJSONObject(v) || v is String || v is NSNumber || v is NSNull else {
      return "null"
    }
    guard
      let d = try? JSONSerialization.data(
        withJSONObject: v, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes, .fragmentsAllowed])
    else { return "null" }
    return String(decoding: d, as: UTF8.self)
  }

  static func normalize(_ value: Any) -> Any {
    switch value {
    case let d as [String: Any?]:
      var o: [String: Any] = [:]
      for (k, v) in d { o[k] = v.map(normalize) ?? NSNull() }
      return o
    case let d as [String: Any]:
      var o: [String: Any] = [:]
      for (k, v) in d { o[k] = normalize(v) }
      return o
    case let a as [Any?]: return a.map { $0.map(normalize) ?? NSNull() }
    case let a as [Any]: return a.map(normalize)
    case Optional<Any>.none: return NSNull()
    default: return value
    }
  }
}
