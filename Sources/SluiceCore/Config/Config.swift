import FoundationEssentials
import Glibc

/// How the cluster wants GPUs asked for.
public enum GPUFlag: String, Sendable, Codable, CaseIterable {
  case gres
  case gpus
  case gpusPerNode = "gpus-per-node"
}

public enum BackendChoice: String, Sendable, Codable, CaseIterable {
  case auto, slurm, local
}

/// Settings from `sluice.toml` over `~/.config/sluice/config.toml` over defaults.
public struct Config: Equatable, Sendable {
  public var tasksFile: String = "tasks.md"
  public var defaults = Resources()
  public var defaultTemplate: String?
  public var array: Bool = true
  public var maxConcurrent: Int?
  public var maxPending: Int?
  public var maxSubmitPerTick: Int?
  public var binDir: String?
  public var clusters: String?
  /// `--clusters=…` for every Slurm command, when `[slurm] clusters` is set.
  public var clusterArgs: [String] { clusters.map { ["--clusters=\($0)"] } ?? [] }
  public var gpuFlag: GPUFlag = .gres
  public var backend: BackendChoice = .auto
  public var commandTimeout: Double = 30
  /// Seconds past `MinJobAge` before a job that Slurm no longer knows is `lost`.
  public var lostMargin: Int = 300
  /// `sluice runs` asks the scheduler first when the last sync is older than this (seconds).
  public var syncAge: Int = 60
  public var logsDir: String = "logs"
  public var stateDir: String = ".sluice"
  public var groupAccess: Bool = false
  public var retryStates: [String] = ["node_fail", "preempted"]
  public var retryMax: Int = 2
  public var localGrace: Int = 10
  /// Files the settings came from, in the order applied.
  public var sources: [String] = []

  public init() {}

  public var fileMode: mode_t { groupAccess ? 0o660 : 0o600 }
  public var dirMode: mode_t { groupAccess ? 0o2770 : 0o700 }

  static let schema: [String: [String: String]] = [
    "": ["tasks_file": "s"],
    "defaults": [
      "partition": "s", "account": "s", "qos": "s", "gpus": "i", "cpus": "i", "mem": "s",
      "time": "s", "constraint": "s", "template": "s", "array": "b",
    ],
    "limits": ["max_concurrent": "i", "max_pending": "i", "max_submit_per_tick": "i"],
    "slurm": [
      "bin_dir": "s", "clusters": "s", "gpu_flag": "s", "backend": "s", "timeout": "i",
      "lost_margin": "i", "sync_age": "i",
    ],
    "paths": ["logs": "s", "state": "s", "group_access": "b"],
    "retry": ["states": "a", "max": "i"],
    "local": ["grace": "i"],
  ]

  /// Applies one parsed file over this config. Throws with every problem found.
  public mutating func apply(_ doc: TOML.Document, path: String) throws {
    var problems: [Diagnostic] = []
    func bad(_ line: Int, _ msg: String) {
      problems.append(Diagnostic(file: path, line: line, severity: .error, message: msg))
    }
    for (table, entries) in doc.sorted(by: { $0.key < $1.key }) {
      guard let keys = Self.schema[table] else {
        let line = entries.values.map(\.line).min() ?? 1
        let hint =
          closest(table, in: Array(Self.schema.keys).filter { !$0.isEmpty }).map {
            "; did you mean [\($0)]?"
          } ?? "; known tables: [defaults] [limits] [slurm] [paths] [retry] [local]"
        bad(max(1, line - 1), "unknown table [\(table)]\(hint)")
        continue
      }
      for (key, entry) in entries.sorted(by: { $0.value.line < $1.value.line }) {
        let where_ = table.isEmpty ? key : "\(table).\(key)"
        guard let type = keys[key] else {
          let hint = closest(key, in: Array(keys.keys)).map { "; did you mean '\($0)'?" } ?? ""
          bad(entry.line, "unknown key '\(where_)'\(hint)")
          continue
        }
        switch (type, entry.value) {
        case ("s", .string(let s)):
          if let msg = set(table: table, key: key, string: s) { bad(entry.line, "\(where_): \(msg)") }
        case ("i", .integer(let n)):
          if n < 0 {
            bad(entry.line, "\(where_) must not be negative")
          } else {
            set(table: table, key: key, int: n)
          }
        case ("b", .boolean(let b)): set(table: table, key: key, bool: b)
        case ("a", .array(let a)):
          if let msg = set(table: table, key: key, array: a) { bad(entry.line, "\(where_): \(msg)") }
        default:
          let want = [
            "s": "a string", "i": "a whole number", "b": "true or false", "a": "an array of strings",
          ][type]!
          bad(entry.line, "\(where_) must be \(want), not \(entry.value.typeName)")
        }
      }
    }
    if !problems.isEmpty { throw DiagnosticsError(problems.sorted { $0.line < $1.line }) }
    sources.append(path)
  }

  mutating func set(table: String, key: String, string s: String) -> String? {
    switch (table, key) {
    case ("", "tasks_file"): tasksFile = s
    case ("defaults", "partition"):
      guard Validate.slurmName(s, allowComma: true) else { return "not a valid partition name" }
      defaults.partition = s
    case ("defaults", "account"):
      guard Validate.slurmName(s) else { return "not a valid account name" }
      defaults.account = s
    case ("defaults", "qos"):
      guard Validate.slurmName(s) else { return "not a valid QOS name" }
      defaults.qos = s
    case ("defaults", "mem"):
      guard let m = Validate.memory(s) else { return "not a memory size (e.g. \"16G\")" }
      defaults.mem = m
    case ("defaults", "time"):
      guard Validate.timeLimit(s) else { return "not a Slurm time limit (e.g. \"2:00:00\")" }
      defaults.time = s
    case ("defaults", "constraint"):
      guard Validate.constraint(s) else { return "not a valid constraint" }
      defaults.constraint = s
    case ("defaults", "template"):
      guard Validate.templateName(s) else { return "must be a relative file name without '..'" }
      defaultTemplate = s
    case ("slurm", "bin_dir"): binDir = s
    case ("slurm", "clusters"):
      guard Validate.slurmName(s, allowComma: true) else { return "not a valid cluster name" }
      clusters = s
    case ("slurm", "gpu_flag"):
      guard let f = GPUFlag(rawValue: s) else { return "must be \"gres\", \"gpus\" or \"gpus-per-node\"" }
      gpuFlag = f
    case ("slurm", "backend"):
      guard let b = BackendChoice(rawValue: s) else { return "must be \"auto\", \"slurm\" or \"local\"" }
      backend = b
    case ("paths", "logs"): logsDir = s
    case ("paths", "state"): stateDir = s
    default: break
    }
    return nil
  }

  mutating func set(table: String, key: String, int n: Int) {
    switch (table, key) {
    case ("defaults", "gpus"): defaults.gpus = n
    case ("defaults", "cpus"): defaults.cpus = max(1, n)
    case ("limits", "max_concurrent"): maxConcurrent = n
    case ("limits", "max_pending"): maxPending = n
    case ("limits", "max_submit_per_tick"): maxSubmitPerTick = n
    case ("slurm", "timeout"): commandTimeout = Double(max(1, n))
    case ("slurm", "lost_margin"): lostMargin = n
    case ("slurm", "sync_age"): syncAge = max(0, n)
    case ("retry", "max"): retryMax = n
    case ("local", "grace"): localGrace = n
    default: break
    }
  }

  mutating func set(table: String, key: String, bool b: Bool) {
    switch (table, key) {
    case ("defaults", "array"): array = b
    case ("paths", "group_access"): groupAccess = b
    default: break
    }
  }

  mutating func set(table: String, key: String, array a: [String]) -> String? {
    if table == "retry" && key == "states" {
      let known = Set(RunState.allCases.filter(\.isTerminal).map(\.rawValue))
      for s in a where !known.contains(s.lowercased()) {
        return "unknown state '\(s)'; use terminal states such as \"node_fail\", \"preempted\", \"timeout\""
      }
      retryStates = a.map { $0.lowercased() }
    }
    return nil
  }

  /// Loads `~/.config/sluice/config.toml` (if present) then the project file.
  public static func load(projectFile: String?, userFile: String?) throws -> Config {
    var config = Config()
    for path in [userFile, projectFile].compactMap({ $0 }) where Files.exists(path) {
      let text = try Files.readText(path)
      let doc = try TOML.parse(text, path: path)
      try config.apply(doc, path: path)
    }
    return config
  }

  public static func userConfigPath(environment: [String: String]) -> String? {
    if let x = environment["XDG_CONFIG_HOME"], !x.isEmpty { return x + "/sluice/config.toml" }
    if let h = environment["HOME"], !h.isEmpty { return h + "/.config/sluice/config.toml" }
    return nil
  }

  public static let example = """
    # sluice project settings. Command-line flags win over these; these win over
    # ~/.config/sluice/config.toml.
    tasks_file = "tasks.md"

    [defaults]
    # partition = "gpu"
    # account = "my-lab"
    # qos = "normal"
    time = "1:00:00"
    cpus = 1
    mem = "2G"

    [limits]
    # max_concurrent = 8        # GPU slots sluice may use at once (else: GPUs on usable nodes)
    # max_pending = 20
    # max_submit_per_tick = 50

    [slurm]
    # bin_dir = "/usr/bin"
    # clusters = "mycluster"
    gpu_flag = "gres"           # gres | gpus | gpus-per-node
    backend = "auto"            # auto | slurm | local

    [paths]
    logs = "logs"
    state = ".sluice"

    [retry]
    states = ["node_fail", "preempted"]
    max = 2

    """
}
