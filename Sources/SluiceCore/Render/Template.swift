import FoundationEssentials
import Glibc

public struct TemplateError: Error, CustomStringConvertible, Equatable {
  public var template: String
  public var line: Int
  public var message: String
  public var description: String { "\(template):\(line): error: \(message)" }
}

/// `{{name}}` templates. An unknown placeholder is an error, never an empty string.
public enum Template {
  public static func render(_ text: String, name: String, values: [String: String]) throws -> String {
    var out = ""
    var line = 1
    var i = text.startIndex
    while i < text.endIndex {
      if text[i...].hasPrefix("{{") {
        guard let close = text[text.index(i, offsetBy: 2)...].firstRange(of: "}}") else {
          throw TemplateError(template: name, line: line, message: "'{{' is never closed with '}}'")
        }
        let key = text[text.index(i, offsetBy: 2)..<close.lowerBound].trimmed(newlines: false)
        guard let v = values[key] else {
          let hint = closest(key, in: Array(values.keys)).map { "; did you mean {{\($0)}}?" } ?? ""
          throw TemplateError(
            template: name, line: line,
            message:
              "unknown placeholder {{\(key)}}\(hint) (known: \(values.keys.sorted().joined(separator: ", ")))"
          )
        }
        out += v
        i = close.upperBound
        continue
      }
      if text[i] == "\n" || text[i] == "\r\n" { line += 1 }
      out.append(text[i])
      i = text.index(after: i)
    }
    return out
  }

  /// The template used when neither the project nor the install has one.
  public static let builtin = """
    #!/bin/bash
    {{directives}}
    # Rendered by sluice for {{what}}. Edit templates/sbatch.sh to change it.
    {{setup}}
    {{env}}
    {{workdir}}
    {{body}}

    """
}
