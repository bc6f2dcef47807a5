import FoundationEssentials
import Glibc

/// The pure half of `sluice sbatch`: reading an `sbatch` command line the way
/// sbatch's own getopt does, the script's `#SBATCH` lines, the `SBATCH_*`
/// variables, the resources they ask for, array specs and output patterns, and
/// turning `--parsable` output back into what sbatch prints without it.
/// Nothing here runs a program or touches a file.
public enum SbatchOptions {}

// MARK: - The option table

/// One option `sbatch` understands.
public struct SbatchOption: Equatable, Sendable {
  /// How the option takes a value, as getopt's `has_arg` says.
  public enum Argument: Equatable, Sendable {
    /// A flag: `--hold`, `-H`; `--hold=x` is an error.
    case none
    /// `--time=10`, `--time 10`, `-t10`, `-t 10`.
    case required
    /// Only attached: `--nice=5`, `-k` `-koff`; `--nice 5` is `--nice` then `5`.
    case optional
  }

  public var long: String
  public var short: Character?
  public var argument: Argument

  public init(_ long: String, _ short: Character? = nil, _ argument: Argument) {
    self.long = long
    self.short = short
    self.argument = argument
  }
}

extension SbatchOptions {
  /// Every option of sbatch 22.05, read from the program itself rather than guessed:
  /// `sbatch --<letter>=1` makes getopt list every long option starting with that
  /// letter ("is ambiguous; possibilities: ..."), and for each name
  /// `sbatch --NAME --help` (a value-taking option swallows `--help`) and
  /// `sbatch --NAME=x --help` ("doesn't allow an argument") tell required, optional
  /// and no value apart; `sbatch -X --help` and `sbatch -Xzz` did the same for every
  /// letter and digit. `man sbatch` and `sbatch --help` agree, except that they omit
  /// the hidden `--cluster`, `--context`, `--ntasks-per-tres` and `--tasks-per-node`
  /// (kept here, since sbatch accepts them). `--cluster` and `--tasks-per-node` are
  /// aliases (see `aliases`).
  public static let table: [SbatchOption] = [
    .init("account", "A", .required), .init("acctg-freq", nil, .required),
    .init("array", "a", .required), .init("batch", nil, .required), .init("bb", nil, .required),
    .init("bbf", nil, .required), .init("begin", "b", .required), .init("chdir", "D", .required),
    .init("cluster", nil, .required), .init("cluster-constraint", nil, .required),
    .init("clusters", "M", .required), .init("comment", nil, .required),
    .init("constraint", "C", .required), .init("container", nil, .required),
    .init("context", nil, .required), .init("contiguous", nil, .none),
    .init("core-spec", "S", .required), .init("cores-per-socket", nil, .required),
    .init("cpu-freq", nil, .required), .init("cpus-per-gpu", nil, .required),
    .init("cpus-per-task", "c", .required), .init("deadline", nil, .required),
    .init("delay-boot", nil, .required), .init("dependency", "d", .required),
    .init("distribution", "m", .required), .init("error", "e", .required),
    .init("exclude", "x", .required), .init("exclusive", nil, .optional),
    .init("export", nil, .required), .init("export-file", nil, .required),
    .init("extra-node-info", "B", .required), .init("get-user-env", nil, .optional),
    .init("gid", nil, .required), .init("gpu-bind", nil, .required), .init("gpu-freq", nil, .required),
    .init("gpus", "G", .required), .init("gpus-per-node", nil, .required),
    .init("gpus-per-socket", nil, .required), .init("gpus-per-task", nil, .required),
    .init("gres", nil, .required), .init("gres-flags", nil, .required), .init("help", "h", .none),
    .init("hint", nil, .required), .init("hold", "H", .none), .init("ignore-pbs", nil, .none),
    .init("input", "i", .required), .init("job-name", "J", .required),
    .init("kill-on-invalid-dep", nil, .required), .init("licenses", "L", .required),
    .init("mail-type", nil, .required), .init("mail-user", nil, .required),
    .init("mcs-label", nil, .required), .init("mem", nil, .required), .init("mem-bind", nil, .required),
    .init("mem-per-cpu", nil, .required), .init("mem-per-gpu", nil, .required),
    .init("mincpus", nil, .required), .init("network", nil, .required), .init("nice", nil, .optional),
    .init("no-kill", "k", .optional), .init("no-requeue", nil, .none), .init("nodefile", "F", .required),
    .init("nodelist", "w", .required), .init("nodes", "N", .required), .init("ntasks", "n", .required),
    .init("ntasks-per-core", nil, .required), .init("ntasks-per-gpu", nil, .required),
    .init("ntasks-per-node", nil, .required), .init("ntasks-per-socket", nil, .required),
    .init("ntasks-per-tres", nil, .required), .init("open-mode", nil, .required),
    .init("output", "o", .required), .init("overcommit", "O", .none), .init("oversubscribe", "s", .none),
    .init("parsable", nil, .none), .init("partition", "p", .required), .init("power", nil, .required),
    .init("prefer", nil, .required), .init("priority", nil, .required), .init("profile", nil, .required),
    .init("propagate", nil, .optional), .init("qos", "q", .required), .init("quiet", "Q", .none),
    .init("reboot", nil, .none), .init("requeue", nil, .none), .init("reservation", nil, .required),
    .init("signal", nil, .required), .init("sockets-per-node", nil, .required),
    .init("spread-job", nil, .none), .init("switches", nil, .required),
    .init("tasks-per-node", nil, .required), .init("test-only", nil, .none),
    .init("thread-spec", nil, .required), .init("threads-per-core", nil, .required),
    .init("time", "t", .required), .init("time-min", nil, .required), .init("tmp", nil, .required),
    .init("uid", nil, .required), .init("usage", nil, .none), .init("use-min-nodes", nil, .none),
    .init("verbose", "v", .none), .init("version", "V", .none), .init("wait", "W", .none),
    .init("wait-all-nodes", nil, .required), .init("wckey", nil, .required), .init("wrap", nil, .required),
  ]

  /// Hidden spellings and the option they mean.
  public static let aliases: [String: String] = ["cluster": "clusters", "tasks-per-node": "ntasks-per-node"]

  static let byLong: [String: SbatchOption] = Dictionary(uniqueKeysWithValues: table.map { ($0.long, $0) })
  static let byShort: [Character: SbatchOption] = Dictionary(
    uniqueKeysWithValues: table.compactMap { o in o.short.map { ($0, o) } })

  /// The option a long name means, as glibc's getopt_long decides: an exact name, or
  /// else a prefix of exactly one option (`--part` is `--partition`; `--me` is
  /// ambiguous). Nil for unknown and ambiguous names.
  public static func longOption(_ name: String) -> SbatchOption? {
    if let o = byLong[name] { return o }
    guard !name.isEmpty else { return nil }
    let matches = table.filter { $0.long.hasPrefix(name) }
    let meanings = Set(matches.map { aliases[$0.long] ?? $0.long })
    guard meanings.count == 1, let first = matches.first else { return nil }
    return first
  }

  /// The name an option is recorded under (aliases resolved).
  public static func canonical(_ o: SbatchOption) -> String { aliases[o.long] ?? o.long }
}

// MARK: - Reading options

/// One option as sbatch's getopt sees it.
public struct SbatchOccurrence: Equatable, Sendable {
  /// The canonical long name (`partition` for `-p`, `--part` or `--partition`); for an
  /// option sbatch does not know, the argument as written (sbatch will reject it).
  public var name: String
  /// The value, if the option took one.
  public var value: String?
  /// False for options sbatch does not know (or ambiguous abbreviations).
  public var known: Bool
  /// The heterogeneous-job component (0 unless `:` or `#SBATCH hetjob` came before).
  public var component: Int

  public init(_ name: String, _ value: String? = nil, known: Bool = true, component: Int = 0) {
    self.name = name
    self.value = value
    self.known = known
    self.component = component
  }
}

public struct SbatchUsageError: Error, Equatable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A `sluice sbatch` command line, split where sbatch splits it.
public struct SbatchCommandLine: Equatable, Sendable {
  /// Everything before the script, as given, without `--sweep S`.
  public var optionArgs: [String] = []
  /// The options in `optionArgs`, in order.
  public var options: [SbatchOccurrence] = []
  /// The first argument that is not an option (nil: `--wrap`, or the script comes on stdin).
  public var script: String?
  /// Everything after the script, untouched.
  public var scriptArgs: [String] = []
  /// `--sweep S`, which is sluice's and never reaches sbatch.
  public var sweep: String?

  public init() {}

  public func has(_ name: String) -> Bool { options.contains { $0.name == name } }
  public func last(_ name: String) -> String? { options.last { $0.name == name && $0.value != nil }?.value }

  /// `--help`, `--usage` or `--version`: sbatch prints something and submits nothing.
  public var asksForInformation: Bool { has("help") || has("usage") || has("version") }

  /// The argument list for sbatch with `extra` options put first (so they land in the
  /// first component and before any `--`).
  public func argv(adding extra: [String]) -> [String] {
    extra + optionArgs + (script.map { [$0] } ?? []) + scriptArgs
  }
}

extension SbatchOptions {
  struct Scan {
    var occurrences: [SbatchOccurrence] = []
    /// Index of the first argument that is not an option (or `args.count`).
    var stop: Int
    var sawDoubleDash = false
    /// Indices of the arguments that were `--sweep` and its value.
    var sweepIndices: [Int] = []
    var sweep: String?
  }

  /// Reads options from `args[start...]` like getopt_long with a leading `+`: it stops
  /// at the first argument that is not an option, and after `--`. A value-taking
  /// option takes the next argument whatever it looks like (`-J -x` names the job
  /// `-x`); short flags cluster (`-HQ`, `-Hpgpu`). With `sweep`, `--sweep S` and
  /// `--sweep=S` are taken out. Unknown options are kept as flags (sbatch rejects them).
  static func scan(
    _ args: [String], from start: Int = 0, component: Int = 0, sweep: Bool = false
  ) throws -> Scan {
    var s = Scan(stop: args.count)
    var i = start
    func add(_ name: String, _ value: String?, known: Bool = true) {
      s.occurrences.append(SbatchOccurrence(name, value, known: known, component: component))
    }
    while i < args.count {
      let a = args[i]
      if a == "--" {
        s.sawDoubleDash = true
        s.stop = i + 1
        return s
      }
      if a.hasPrefix("--") {
        let body = a.dropFirst(2)
        let eq = body.firstIndex(of: "=")
        let name = String(eq.map { body[..<$0] } ?? body)
        let attached = eq.map { String(body[body.index(after: $0)...]) }
        if sweep && name == "sweep" {
          s.sweepIndices.append(i)
          if let v = attached {
            s.sweep = v
          } else {
            guard i + 1 < args.count else { throw SbatchUsageError("--sweep needs a sweep name") }
            s.sweepIndices.append(i + 1)
            s.sweep = args[i + 1]
            i += 1
          }
          i += 1
          continue
        }
        guard let o = longOption(name) else {
          add(String(a.prefix { $0 != "=" }), attached, known: false)
          i += 1
          continue
        }
        switch o.argument {
        case .none, .optional:
          add(canonical(o), attached)
        case .required:
          if let v = attached {
            add(canonical(o), v)
          } else if i + 1 < args.count {
            add(canonical(o), args[i + 1])
            i += 1
          } else {
            add(canonical(o), nil)
          }
        }
        i += 1
        continue
      }
      if a.hasPrefix("-") && a.count > 1 {
        var rest = Substring(a.dropFirst())
        while let c = rest.first {
          rest = rest.dropFirst()
          guard let o = byShort[c] else {
            add("-" + String(c), nil, known: false)
            continue
          }
          if o.argument == .none {
            add(canonical(o), nil)
            continue
          }
          if !rest.isEmpty {
            add(canonical(o), String(rest))
          } else if o.argument == .required && i + 1 < args.count {
            add(canonical(o), args[i + 1])
            i += 1
          } else {
            add(canonical(o), nil)
          }
          break
        }
        i += 1
        continue
      }
      s.stop = i
      return s
    }
    return s
  }

  /// Splits `sluice sbatch` arguments: options (with `--sweep` taken out), the script
  /// and its arguments. A lone `:` between option groups starts the next component of
  /// a heterogeneous job, as in `sbatch -p a : -p b job.sh`.
  public static func parseCommandLine(_ args: [String]) throws -> SbatchCommandLine {
    var line = SbatchCommandLine()
    var start = 0
    var component = 0
    var dropped = Set<Int>()
    while true {
      let s = try scan(args, from: start, component: component, sweep: true)
      line.options += s.occurrences
      dropped.formUnion(s.sweepIndices)
      if let sw = s.sweep { line.sweep = sw }
      if !s.sawDoubleDash, s.stop < args.count, args[s.stop] == ":" {
        component += 1
        start = s.stop + 1
        continue
      }
      line.optionArgs = (0..<s.stop).filter { !dropped.contains($0) }.map { args[$0] }
      if s.stop < args.count {
        line.script = args[s.stop]
        line.scriptArgs = Array(args[(s.stop + 1)...])
      }
      break
    }
    if let sw = line.sweep {
      guard Validate.identifier(sw) else {
        throw SbatchUsageError("sweep name '\(sw)' must use letters, digits, '_', '-' and '.'")
      }
    }
    return line
  }

  // MARK: #SBATCH lines

  /// The words of one `#SBATCH` line after the magic word, split as sbatch splits
  /// them: at blanks outside quotes, quotes removed, a backslash keeping the next
  /// character, and an unquoted `#` ending the line.
  public static func directiveWords(_ text: Substring) -> [String] {
    var words: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escape = false
    for c in text {
      if escape {
        current.append(c)
        escape = false
        continue
      }
      if c == "\\" {
        escape = true
        inWord = true
        continue
      }
      if let q = quote {
        if c == q { quote = nil } else { current.append(c) }
        continue
      }
      if c == "#" { break }
      if c == "\"" || c == "'" {
        quote = c
        inWord = true
        continue
      }
      if c == " " || c == "\t" || c == "\r" {
        if inWord { words.append(current) }
        current = ""
        inWord = false
        continue
      }
      current.append(c)
      inWord = true
    }
    if inWord { words.append(current) }
    return words
  }

  /// The options on a script's `#SBATCH` lines. Like sbatch: only lines starting with
  /// `#SBATCH` count, reading stops at the first line that is neither blank nor a
  /// comment, and `#SBATCH hetjob` (or `packjob`) starts the next component. Words
  /// after the first non-option of a component are dropped (sbatch rejects them).
  public static func directives(inScript text: String) -> [SbatchOccurrence] {
    var groups: [[String]] = [[]]
    for line in text.lines() {
      guard let first = line.first(where: { $0 != " " && $0 != "\t" }) else { continue }
      guard first == "#" else { break }
      guard line.hasPrefix("#SBATCH") else { continue }
      let words = directiveWords(line.dropFirst(7))
      if let w = words.first, ["hetjob", "packjob"].contains(w.lowercased()) {
        groups.append([])
        continue
      }
      groups[groups.count - 1] += words
    }
    var out: [SbatchOccurrence] = []
    for (component, words) in groups.enumerated() {
      if let s = try? scan(words, component: component) { out += s.occurrences }
    }
    return out
  }

  // MARK: SBATCH_* variables

  /// The input variables sluice reads, and the option each one sets.
  public static let environmentOptions: [(variable: String, option: String)] = [
    ("SBATCH_ACCOUNT", "account"), ("SBATCH_ARRAY_INX", "array"), ("SLURM_CLUSTERS", "clusters"),
    ("SBATCH_CLUSTERS", "clusters"), ("SBATCH_CONSTRAINT", "constraint"), ("SBATCH_ERROR", "error"),
    ("SBATCH_GPUS", "gpus"), ("SBATCH_GPUS_PER_NODE", "gpus-per-node"),
    ("SBATCH_GPUS_PER_TASK", "gpus-per-task"), ("SBATCH_GRES", "gres"), ("SBATCH_INPUT", "input"),
    ("SBATCH_JOB_NAME", "job-name"), ("SBATCH_MEM_PER_NODE", "mem"), ("SBATCH_OUTPUT", "output"),
    ("SBATCH_PARTITION", "partition"), ("SBATCH_QOS", "qos"), ("SBATCH_TIMELIMIT", "time"),
    ("SBATCH_WAIT", "wait"),
  ]

  /// The options the environment sets. A flag variable (`SBATCH_WAIT`) is on when
  /// empty, `yes` or a non-zero number, as `man sbatch` says.
  public static func environmentDirectives(_ env: [String: String]) -> [SbatchOccurrence] {
    var out: [SbatchOccurrence] = []
    for (variable, option) in environmentOptions {
      guard let v = env[variable] else { continue }
      if byLong[option]?.argument == SbatchOption.Argument.none {
        let on = v.isEmpty || v.lowercased() == "yes" || (Int(v).map { $0 != 0 } ?? false)
        if on { out.append(SbatchOccurrence(option)) }
      } else if !v.isEmpty {
        out.append(SbatchOccurrence(option, v))
      }
    }
    return out
  }
}

// MARK: - Settings and resources

/// The options in effect for one job component: the script's `#SBATCH` lines, then
/// the `SBATCH_*` variables, then the command line, a later one winning, as sbatch does.
public struct SbatchSettings: Equatable, Sendable {
  public struct Entry: Equatable, Sendable {
    public var value: String?
    /// Higher wins: command line over environment over script, later over earlier.
    public var rank: Int
  }

  public var entries: [String: Entry] = [:]

  public init(
    script: [SbatchOccurrence] = [], environment: [SbatchOccurrence] = [],
    commandLine: [SbatchOccurrence] = []
  ) {
    var rank = 0
    for o in script + environment + commandLine where o.known {
      rank += 1
      entries[o.name] = Entry(value: o.value, rank: rank)
    }
  }

  public func has(_ name: String) -> Bool { entries[name] != nil }
  public func value(_ name: String) -> String? { entries[name]?.value }
  public func rank(_ name: String) -> Int { entries[name]?.rank ?? 0 }
}

extension SbatchOptions {
  /// What the options ask for, in sluice's terms. GPUs come from whichever of
  /// `--gres=gpu[:type]:N`, `--gpus[=type:]N`/`-G`, `--gpus-per-node` or
  /// `--gpus-per-task` wins (per node, as sluice counts them: `--gpus` and
  /// `--gpus-per-task` are per job, so they are divided by the node count).
  /// `--nodes=2-4` records the minimum. Values are kept as written; sbatch checks them.
  public static func resources(_ s: SbatchSettings) -> Resources {
    var r = Resources()
    r.partition = s.value("partition")
    r.account = s.value("account")
    r.qos = s.value("qos")
    r.time = s.value("time")
    r.mem = s.value("mem")
    r.constraint = s.value("constraint")
    r.cpus = s.value("cpus-per-task").flatMap { Int($0) }
    r.ntasks = s.value("ntasks").flatMap { Int($0) }
    r.nodes = s.value("nodes").flatMap { v in Int(v.split(separator: "-").first ?? "") }
    let nodes = max(1, r.nodes ?? 1)
    let gpuKeys = ["gres", "gpus", "gpus-per-node", "gpus-per-task"].filter { s.value($0) != nil }
    if let key = gpuKeys.max(by: { s.rank($0) < s.rank($1) }), let v = s.value(key) {
      switch key {
      case "gres": r.gpus = Gres.requestedGPUs(v)
      case "gpus-per-node": r.gpus = gpuCount(v)
      case "gpus": r.gpus = max(1, gpuCount(v) / nodes)
      default: r.gpus = max(1, gpuCount(v) * max(1, r.ntasks ?? 1) / nodes)
      }
    }
    return r
  }

  /// `2`, `a100:2`, `a100:1,v100:1` (the `--gpus` forms): the total count.
  static func gpuCount(_ v: String) -> Int {
    v.split(separator: ",").reduce(0) { $0 + Gres.requestedGPUs("gpu:" + $1) }
  }

  /// The indices of a plain array spec: `0-9`, `1,3,5`, `0-15:4`, `0-9%2` (the
  /// `%` throttle does not change the indices). Nil for anything else, or for more
  /// than `limit` indices. Sorted and without repeats, as Slurm keeps them.
  public static func arrayIndices(_ spec: String, limit: Int = 10_000) -> [Int]? {
    var body = Substring(spec)
    if let pct = body.firstIndex(of: "%") {
      guard Int(body[body.index(after: pct)...]) != nil else { return nil }
      body = body[..<pct]
    }
    var set = Set<Int>()
    for part in body.split(separator: ",", omittingEmptySubsequences: false) {
      let stepParts = part.split(separator: ":", omittingEmptySubsequences: false)
      guard stepParts.count <= 2 else { return nil }
      let step = stepParts.count == 2 ? Int(stepParts[1]) : 1
      let ends = stepParts[0].split(separator: "-", omittingEmptySubsequences: false)
      guard let step, step > 0, ends.count <= 2, let lo = Int(ends[0]), lo >= 0 else { return nil }
      let hi = ends.count == 2 ? Int(ends[1]) : lo
      guard let hi, hi >= lo, (hi - lo) / step < limit else { return nil }
      if stepParts.count == 2 && ends.count == 1 { return nil }
      for i in stride(from: lo, through: hi, by: step) {
        set.insert(i)
        if set.count > limit { return nil }
      }
    }
    return set.isEmpty ? nil : set.sorted()
  }

  /// An sbatch filename pattern with what is known at submission filled in: `%j`
  /// (unless an array task: a task gets its own job id when it starts), `%A`, `%a`,
  /// `%x`, `%u`, `%%`, with zero padding (`%4j`). `%N`, `%n`, `%s`, `%t`, `%J` stay.
  /// A pattern with a backslash is not expanded (its backslashes are dropped), as in
  /// Slurm. Relative results are made absolute against `workdir`.
  public static func resolvePattern(
    _ pattern: String, jobID: Int, arrayIndex: Int?, jobName: String, user: String, workdir: String
  ) -> String {
    var out = ""
    if pattern.contains("\\") {
      var escape = false
      for c in pattern {
        if c == "\\" && !escape {
          escape = true
          continue
        }
        escape = false
        out.append(c)
      }
    } else {
      var chars = Array(pattern)[...]
      while let c = chars.first {
        chars = chars.dropFirst()
        guard c == "%" else {
          out.append(c)
          continue
        }
        let digits = chars.prefix { $0.isASCII && $0.isNumber }
        let afterDigits = chars.dropFirst(digits.count)
        guard let code = afterDigits.first else {
          out.append(c)
          continue
        }
        let width = Int(String(digits)) ?? 0
        func pad(_ n: Int) -> String {
          let s = String(n)
          return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        var replacement: String?
        switch code {
        case "%": replacement = "%"
        case "A": replacement = pad(jobID)
        case "a": replacement = pad(arrayIndex ?? 4_294_967_294)
        case "j": replacement = arrayIndex == nil ? pad(jobID) : nil
        case "x": replacement = jobName
        case "u": replacement = user
        default: replacement = nil
        }
        if let r = replacement {
          out += r
          chars = afterDigits.dropFirst()
        } else {
          out.append(c)
        }
      }
    }
    return Files.absolute(out, relativeTo: workdir)
  }
}

// MARK: - The plan

/// Where the job script comes from.
public enum SbatchScriptSource: Equatable, Sendable {
  case file(String)
  case wrap(String)
  case stdin
}

/// What `sluice sbatch` will run and, once sbatch answers, record.
public struct SbatchPlan: Equatable, Sendable {
  /// Arguments for sbatch (after the program name).
  public var argv: [String]
  /// Run sbatch exactly as asked, print what it prints, record nothing
  /// (`--help`, `--usage`, `--version`, `--test-only`).
  public var passThrough: Bool
  /// The user asked for `--parsable` (command line or `#SBATCH`): print its form.
  public var userParsable: Bool
  /// `-Q` on the command line: sbatch prints no job id at all.
  public var quiet: Bool
  /// `--wait`: sbatch returns when the job ends.
  public var waits: Bool
  /// The tag put into the job name (nil when the job name is left alone).
  public var tag: String?
  /// The job name Slurm will show.
  public var jobName: String
  /// The run's name: the user's job name, or sbatch's default one.
  public var runName: String
  public var source: SbatchScriptSource
  /// The script file + its arguments (shell-quoted), the `--wrap` text, or `<stdin>`.
  public var command: String
  public var resources: Resources
  /// The `--array` spec, and its indices when it is a plain range or list.
  public var arraySpec: String?
  public var arrayIndices: [Int]?
  public var outputPattern: String?
  public var errorPattern: String?
  /// The job's working directory (`--chdir` against the current one).
  public var workdir: String
  /// Where sbatch ran: a script path is read from there, before any `--chdir`.
  public var submitDir: String
  public var clusters: String?
  public var sweep: String?
}

extension SbatchOptions {
  /// Decides the sbatch call and what to record. `scriptText` is the script file's (or
  /// stdin's) text when it could be read.
  ///
  /// The tag: sluice adds `--job-name=<name>.<tag>` (name = sbatch's default: the
  /// script's file name, `wrap`, or `sbatch` for stdin) only when nothing would notice
  /// the change: the user set no job name (options, `#SBATCH`, `SBATCH_JOB_NAME`), no
  /// `-o/-e/-i` pattern uses `%x`, and the script does not mention `SLURM_JOB_NAME`.
  /// Otherwise the job is submitted exactly as given and nothing else is added (no
  /// `--comment` either): the run is recorded from the job id `--parsable` returns,
  /// right after sbatch answers. The tag only matters for `-Q` (sbatch then prints no
  /// id and sluice finds the job by its tagged name). The wrapper does not write a
  /// `submitting` run before calling sbatch the way a tick does: a tick would take a
  /// tagless one for never submitted and queue it again, and sbatch may block
  /// (`--wait`) far longer than the project lock may be held. A crash between sbatch
  /// answering and the record being saved loses the record, not the job.
  public static func plan(
    _ line: SbatchCommandLine, scriptText: String?, environment: [String: String], cwd: String, tag: String
  ) -> SbatchPlan {
    let script = scriptText.map { directives(inScript: $0) } ?? []
    let env = environmentDirectives(environment)
    let settings = SbatchSettings(
      script: script.filter { $0.component == 0 }, environment: env,
      commandLine: line.options.filter { $0.component == 0 })
    let all = SbatchSettings(script: script, environment: env, commandLine: line.options)
    let wrap = line.last("wrap")
    let source: SbatchScriptSource
    let defaultName: String
    let command: String
    if let w = wrap {
      source = .wrap(w)
      defaultName = "wrap"
      command = w
    } else if let s = line.script {
      source = .file(s)
      defaultName = Path.basename(s)
      command = ([s] + line.scriptArgs).map(Shell.quote).joined(separator: " ")
    } else {
      source = .stdin
      defaultName = "sbatch"
      command = "<stdin>"
    }
    let passThrough = line.asksForInformation || all.has("test-only")
    let userName = settings.value("job-name")
    let givenName =
      userName != nil || line.has("job-name") || script.contains { $0.name == "job-name" }
      || env.contains { $0.name == "job-name" }
    let patterns = ["output", "error", "input"].compactMap { settings.value($0) }
    let seesName =
      patterns.contains(where: SbatchOptions.namesJob)
      || (scriptText ?? "").contains("SLURM_JOB_NAME") || (wrap ?? "").contains("SLURM_JOB_NAME")
    let useTag = !passThrough && !givenName && !seesName
    let tagged = Shell.sanitizeName(defaultName, max: 48) + ".\(tag)"
    var extra: [String] = []
    let userParsable = all.has("parsable")
    if !passThrough && !userParsable { extra.append("--parsable") }
    if useTag { extra.append("--job-name=\(tagged)") }
    let arraySpec = settings.value("array")
    return SbatchPlan(
      argv: line.argv(adding: extra), passThrough: passThrough, userParsable: userParsable,
      quiet: line.has("quiet"), waits: all.has("wait"), tag: useTag ? tag : nil,
      jobName: useTag ? tagged : (userName ?? defaultName), runName: userName ?? defaultName, source: source,
      command: command, resources: resources(settings), arraySpec: arraySpec,
      arrayIndices: arraySpec.flatMap { arrayIndices($0) }, outputPattern: settings.value("output"),
      errorPattern: settings.value("error"),
      workdir: Files.absolute(settings.value("chdir") ?? cwd, relativeTo: cwd), submitDir: cwd,
      clusters: settings.value("clusters"), sweep: line.sweep)
  }

  /// The runs to record for a submitted job: one per array index when the spec is a
  /// plain range or list (`N_i`, array job N, index i), else one (for a non-plain
  /// array, with the array job id). Ids are `idPrefix` (+ `_i`).
  public static func runs(
    _ plan: SbatchPlan, jobID: Int, idPrefix: String, user: String, now: String
  ) -> [Run] {
    func make(_ id: String, name: String, index: Int?) -> Run {
      var r = Run(
        id: id, name: name, sweep: plan.sweep, command: plan.command, resources: plan.resources,
        workdir: plan.workdir, maxRetries: 0, state: .pending, created: now)
      r.source = "sbatch"
      r.submission = plan.tag
      r.submitted = now
      if case .file(let f) = plan.source { r.scriptPath = Files.absolute(f, relativeTo: plan.submitDir) }
      let isArray = plan.arraySpec != nil
      let out = plan.outputPattern ?? (isArray ? "slurm-%A_%a.out" : "slurm-%j.out")
      r.stdoutPath = resolvePattern(
        out, jobID: jobID, arrayIndex: isArray ? index : nil, jobName: plan.jobName, user: user,
        workdir: plan.workdir)
      r.stderrPath =
        plan.errorPattern.map {
          resolvePattern(
            $0, jobID: jobID, arrayIndex: isArray ? index : nil, jobName: plan.jobName, user: user,
            workdir: plan.workdir)
        } ?? r.stdoutPath
      return r
    }
    guard plan.arraySpec != nil else {
      var r = make(idPrefix, name: plan.runName, index: nil)
      r.jobID = String(jobID)
      return [r]
    }
    guard let indices = plan.arrayIndices else {
      var r = make(idPrefix, name: plan.runName, index: nil)
      r.jobID = String(jobID)
      r.arrayJobID = jobID
      return [r]
    }
    return indices.map { i in
      var r = make("\(idPrefix)_\(i)", name: "\(plan.runName)[\(i)]", index: i)
      r.jobID = "\(jobID)_\(i)"
      r.arrayJobID = jobID
      r.arrayIndex = i
      return r
    }
  }

  /// What to print for sbatch's stdout (run with `--parsable`), and the job it names.
  /// The `N` / `N;cluster` line becomes `Submitted batch job N` / `Submitted batch job
  /// N on cluster C` unless the user asked for `--parsable`; other lines are kept.
  public static func translate(stdout: String, userParsable: Bool) -> (text: String, submitted: SubmitResult?)
  {
    var lines = stdout.components(separatedBy: "\n")
    guard let i = lines.lastIndex(where: { (try? SbatchParser.parseParsable($0)) != nil }),
      let result = try? SbatchParser.parseParsable(lines[i])
    else { return (stdout, nil) }
    if userParsable { return (stdout, result) }
    lines[i] = humanLine(result)
    return (lines.joined(separator: "\n"), result)
  }

  /// `Submitted batch job N[ on cluster C]`, as sbatch prints it.
  public static func humanLine(_ r: SubmitResult) -> String {
    "Submitted batch job \(r.jobID)" + (r.cluster.map { " on cluster \($0)" } ?? "")
  }
}

extension SbatchOptions {
  /// Whether an `--output`/`--error`/`--input` pattern names the job: `%x`, with an
  /// optional field width between (`%8x`), as sbatch expands it.
  static func namesJob(_ pattern: String) -> Bool { pattern.contains(/%[0-9]*x/) }
}
