import FoundationEssentials
import Glibc

/// One option a command takes.
public struct OptionSpec: Sendable {
  public var name: String
  public var value: String?
  public var repeatable: Bool
  public var help: String

  public init(_ name: String, value: String? = nil, repeatable: Bool = false, help: String) {
    self.name = name
    self.value = value
    self.repeatable = repeatable
    self.help = help
  }
}

/// A subcommand's interface: options, positionals, help and examples.
public struct CommandSpec: Sendable {
  public var name: String
  public var summary: String
  public var usage: String
  public var options: [OptionSpec]
  public var positionals: ClosedRange<Int>
  public var examples: [String]
  public var json: Bool

  public init(
    _ name: String, summary: String, usage: String, options: [OptionSpec] = [],
    positionals: ClosedRange<Int> = 0...0,
    examples: [String] = [], json: Bool = true
  ) {
    self.name = name
    self.summary = summary
    self.usage = usage
    self.options = options
    self.positionals = positionals
    self.examples = examples
    self.json = json
  }
}

public struct ParsedArguments: Sendable {
  public var flags: Set<String> = []
  public var values: [String: [String]] = [:]
  public var positionals: [String] = []

  public func flag(_ n: String) -> Bool { flags.contains(n) }
  public func value(_ n: String) -> String? { values[n]?.last }
  public func all(_ n: String) -> [String] { values[n] ?? [] }
}

public struct UsageError: Error, CustomStringConvertible {
  public var message: String
  public init(_ m: String) { message = m }
  public var description: String { message }
}

/// Options every command accepts.
public let globalOptions: [OptionSpec] = [
  OptionSpec(
    "tasks", value: "PATH", help: "tasks file (default: tasks_file from sluice.toml, else ./tasks.md)"),
  OptionSpec("state-dir", value: "DIR", help: "state folder (default: .sluice/ beside the tasks file)"),
  OptionSpec("config", value: "PATH", help: "project config (default: sluice.toml beside the tasks file)"),
  OptionSpec("json", help: "print machine-readable JSON"),
  OptionSpec("verbose", help: "log every Slurm command with its duration to stderr"),
  OptionSpec("no-color", help: "never colour the output (also: NO_COLOR)"),
  OptionSpec("help", help: "show this help"),
]

public enum ArgumentParser {
  public static func parse(_ args: [String], spec: CommandSpec) throws -> ParsedArguments {
    var out = ParsedArguments()
    let all = spec.options + globalOptions
    var i = 0
    var onlyPositionals = false
    while i < args.count {
      let a = args[i]
      i += 1
      if onlyPositionals || !a.hasPrefix("-") || a == "-" {
        out.positionals.append(a)
        continue
      }
      if a == "--" {
        onlyPositionals = true
        continue
      }
      guard a.hasPrefix("--") else {
        if a == "-h" {
          out.flags.insert("help")
          continue
        }
        throw UsageError(
          "unknown option '\(a)'; options are spelled out, e.g. --json (see 'sluice \(spec.name) --help')")
      }
      var name = String(a.dropFirst(2))
      var inline: String?
      if let eq = name.firstIndex(of: "=") {
        inline = String(name[name.index(after: eq)...])
        name = String(name[..<eq])
      }
      guard let opt = all.first(where: { $0.name == name }) else {
        let hint = closest(name, in: all.map(\.name), maxDistance: 3).map { "; did you mean --\($0)?" } ?? ""
        throw UsageError("unknown option '--\(name)' for 'sluice \(spec.name)'\(hint)")
      }
      if opt.value != nil {
        let v: String
        if let inline {
          v = inline
        } else {
          guard i < args.count else { throw UsageError("option --\(name) needs a value (\(opt.value!))") }
          v = args[i]
          i += 1
        }
        if !opt.repeatable && out.values[name] != nil {
          throw UsageError("option --\(name) is given twice")
        }
        out.values[name, default: []].append(v)
      } else {
        if inline != nil { throw UsageError("option --\(name) takes no value") }
        out.flags.insert(name)
      }
    }
    if out.flag("help") { return out }
    if !spec.positionals.contains(out.positionals.count) {
      if out.positionals.count > spec.positionals.upperBound {
        let extra = out.positionals[spec.positionals.upperBound]
        throw UsageError("unexpected argument '\(extra)'; usage: \(spec.usage)")
      }
      throw UsageError("missing argument; usage: \(spec.usage)")
    }
    return out
  }

  public static func help(_ spec: CommandSpec) -> String {
    var s = "\(spec.summary)\n\nUsage: \(spec.usage)\n"
    func row(_ o: OptionSpec) -> String {
      let left = "--\(o.name)" + (o.value.map { " \($0)" } ?? "")
      return "  " + left.padded(to: max(24, left.count + 2)) + o.help
    }
    if !spec.options.isEmpty {
      s += "\nOptions:\n" + spec.options.map(row).joined(separator: "\n") + "\n"
    }
    s +=
      "\nGlobal options:\n"
      + globalOptions.filter { spec.json || $0.name != "json" }.map(row).joined(separator: "\n") + "\n"
    if !spec.examples.isEmpty {
      s += "\nExamples:\n" + spec.examples.map { "  \($0)" }.joined(separator: "\n") + "\n"
    }
    return s
  }
}
