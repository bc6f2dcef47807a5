import FoundationEssentials
import Glibc

/// Resolves paths and config for one command invocation.
public final class CLIContext {
  public let args: ParsedArguments
  public let environment: [String: String]
  public let output: Output
  public let cwd: String
  public var runner: CommandRunning
  public var clock: Clock
  private var cachedConfig: Config?

  public init(
    args: ParsedArguments, environment: [String: String], output: Output,
    runner: CommandRunning = ProcessRunner(),
    clock: Clock = SystemClock()
  ) {
    self.args = args
    self.environment = environment
    self.output = output
    self.cwd = Path.currentDirectory()
    self.runner = runner
    self.clock = clock
  }

  public var json: Bool { args.flag("json") }

  public var configPath: String {
    if let c = args.value("config") { return Files.absolute(c, relativeTo: cwd) }
    if let t = args.value("tasks") {
      let dir = Path.dirname(Files.absolute(t, relativeTo: cwd))
      return dir + "/sluice.toml"
    }
    return cwd + "/sluice.toml"
  }

  public func config() throws -> Config {
    if let c = cachedConfig { return c }
    do {
      if args.value("config") != nil && !Files.exists(configPath) {
        throw SluiceError.config(
          DiagnosticsError([
            Diagnostic(
              file: configPath, line: 1, severity: .error, message: "config file not found; check --config")
          ]))
      }
      let c = try Config.load(
        projectFile: configPath, userFile: Config.userConfigPath(environment: environment))
      cachedConfig = c
      return c
    } catch let d as DiagnosticsError {
      throw SluiceError.config(d)
    }
  }

  public func paths() throws -> ProjectPaths {
    let c = try config()
    let configDir = Path.dirname(configPath)
    let tasks: String
    if let t = args.value("tasks") {
      tasks = Files.absolute(t, relativeTo: cwd)
    } else {
      tasks = Files.absolute(c.tasksFile, relativeTo: configDir)
    }
    let projectDir = Path.dirname(tasks)
    let state: String
    if let s = args.value("state-dir") {
      state = Files.absolute(s, relativeTo: cwd)
    } else {
      state = Files.absolute(c.stateDir, relativeTo: projectDir)
    }
    return ProjectPaths(
      tasksFile: tasks, projectDir: projectDir, stateDir: state,
      logsDir: Files.absolute(c.logsDir, relativeTo: projectDir),
      configFile: configPath)
  }

  public func store() throws -> Store {
    let c = try config()
    return Store(dir: try paths().stateDir, fileMode: c.fileMode, dirMode: c.dirMode)
  }

  public func engine(backend: Backend) throws -> Engine {
    let e = Engine(paths: try paths(), config: try config(), backend: backend, clock: clock)
    if let g = args.value("gpus-free") {
      guard let n = Int(g), n >= 0 else { throw SluiceError.usage("--gpus-free takes a whole number") }
      e.gpusFreeOverride = n
    }
    return e
  }

  public func display(_ p: String) -> String {
    if p.hasPrefix(cwd + "/") { return String(p.dropFirst(cwd.count + 1)) }
    return p
  }
}
