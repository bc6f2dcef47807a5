import FoundationEssentials
import Glibc

/// Picks the backend: `[slurm] backend = auto | slurm | local`.
enum Backends {
  static func user(_ env: [String: String]) -> String {
    if let u = env["USER"], !u.isEmpty { return u }
    if let u = env["LOGNAME"], !u.isEmpty { return u }
    if let pw = getpwuid(getuid()), let n = pw.pointee.pw_name { return String(cString: n) }
    return "root"
  }

  static func slurm(_ ctx: CLIContext) throws -> SlurmBackend {
    let c = try ctx.config()
    let cli = SlurmCLI(
      runner: ctx.runner, environment: ctx.environment, binDir: c.binDir, timeout: c.commandTimeout)
    if ctx.args.flag("verbose") { cli.verbose = { [output = ctx.output] line in output.error(line) } }
    let store = try ctx.store()
    let cache = store.dir + "/slurm-facts.json"
    return SlurmBackend(cli: cli, config: c, user: user(ctx.environment), cachePath: cache, clock: ctx.clock)
  }

  static func local(_ ctx: CLIContext) throws -> LocalBackend {
    let c = try ctx.config()
    return LocalBackend(
      stateDir: try ctx.paths().stateDir, runner: ctx.runner, environment: ctx.environment,
      grace: c.localGrace, fileMode: c.fileMode)
  }

  /// With `needed` false the caller only plans with given numbers, so no probing is done.
  static func make(_ ctx: CLIContext, needed: Bool = true) throws -> Backend {
    let c = try ctx.config()
    switch c.backend {
    case .slurm: return try slurm(ctx)
    case .local: return try local(ctx)
    case .auto:
      let s = try slurm(ctx)
      guard s.cli.locate("sbatch") != nil else {
        if ctx.args.flag("verbose") { ctx.output.error("sluice: backend auto → local (no sbatch found)") }
        return try local(ctx)
      }
      if !needed { return s }
      let cachePath = try ctx.paths().stateDir + "/backend-ok"
      if let t = Files.modificationTime(cachePath), ctx.clock.now().timeIntervalSince1970 - t < 600 {
        return s
      }
      let p = s.ping()
      if p.ok {
        if Files.isDirectory(try ctx.paths().stateDir) {
          try? Files.writeAtomically(cachePath, text: "slurm\n")
        }
        return s
      }
      ctx.output.error(
        "sluice: backend auto → local (sbatch found, but scontrol ping says: \(p.message.isEmpty ? "no answer" : p.message))"
      )
      return try local(ctx)
    }
  }
}
