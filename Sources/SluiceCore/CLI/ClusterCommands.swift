import FoundationEssentials
import Glibc

/// Partition totals for `sluice cluster`.
public struct PartitionSummary: Equatable, Sendable {
  public var name: String
  public var isDefault: Bool
  public var nodesTotal = 0
  public var nodesUsable = 0
  public var cpusTotal = 0
  public var cpusIdle = 0
  public var cpusAllocated = 0
  public var gpusTotal = 0
  public var gpusUsed = 0
  public var states: [String: Int] = [:]

  /// Sums `sinfo -N` rows per partition; a partition listed on several lines is summed once per node.
  public static func summarize(_ nodes: [NodeInfo]) -> [PartitionSummary] {
    var order: [String] = []
    var out: [String: PartitionSummary] = [:]
    var seen = Set<String>()
    for n in nodes {
      let key = n.partition + "\u{0}" + n.name
      if seen.contains(key) { continue }
      seen.insert(key)
      if out[n.partition] == nil {
        order.append(n.partition)
        out[n.partition] = PartitionSummary(name: n.partition, isDefault: n.isDefaultPartition)
      }
      var p = out[n.partition]!
      p.isDefault = p.isDefault || n.isDefaultPartition
      p.nodesTotal += 1
      if n.state.usable { p.nodesUsable += 1 }
      p.cpusTotal += n.cpusTotal
      p.cpusIdle += n.cpusIdle
      p.cpusAllocated += n.cpusAllocated
      p.gpusTotal += n.gpusTotal
      p.gpusUsed += n.gpusUsed
      p.states[n.state.raw, default: 0] += 1
      out[n.partition] = p
    }
    return order.map { out[$0]! }
  }
}

enum ClusterCommands {
  static func cluster(_ ctx: CLIContext) throws -> Int32 {
    let backend = try Backends.slurm(ctx)
    guard backend.cli.locate("sinfo") != nil else {
      throw SluiceError.slurmUnavailable(
        "sinfo not found; install Slurm's client tools or set [slurm] bin_dir (the local backend has no cluster to show)"
      )
    }
    let nodes: [NodeInfo]
    let queue: [QueuedJob]
    do {
      nodes = try backend.nodes()
      queue = try backend.queue()
    } catch let e as SlurmCommandError {
      throw SluiceError.slurmUnavailable("cannot ask Slurm: \(e)")
    }
    var parts = PartitionSummary.summarize(nodes)
    if let p = ctx.args.value("partition") {
      parts = parts.filter { $0.name == p }
      if parts.isEmpty {
        throw SluiceError.failed(
          "no partition '\(p)'; partitions: \(PartitionSummary.summarize(nodes).map(\.name).joined(separator: ", "))"
        )
      }
    }
    let active = queue.filter { StateMap.runState(slurm: $0.state, exitCode: nil) == nil }
    let running = active.filter { StateMap.inFlightState(slurm: $0.state) == .running }.count
    let pending = active.count - running
    let limits = backend.limits
    var plan: Plan?
    if Files.exists(try ctx.paths().tasksFile) {
      let engine = try ctx.engine(backend: backend)
      plan = try? engine.tick(TickOptions(dryRun: true)).plan
    }
    if ctx.json {
      let j: [String: Any?] = [
        "partitions": parts.map { p -> [String: Any] in
          [
            "name": p.name, "default": p.isDefault, "nodes_total": p.nodesTotal,
            "nodes_usable": p.nodesUsable,
            "cpus_total": p.cpusTotal, "cpus_idle": p.cpusIdle, "cpus_allocated": p.cpusAllocated,
            "gpus_total": p.gpusTotal,
            "gpus_used": p.gpusUsed, "gpus_free": max(0, p.gpusTotal - p.gpusUsed), "states": p.states,
          ]
        },
        "jobs": ["running": running, "pending": pending],
        "limits": [
          "max_submit_jobs": limits.maxSubmitJobs, "max_jobs": limits.maxJobs,
          "max_array_size": limits.maxArraySize,
          "min_job_age": limits.minJobAge, "max_submit_jobs_source": limits.maxSubmitJobsSource,
          "max_jobs_source": limits.maxJobsSource,
        ] as [String: Any?],
        "capacity": plan.map {
          [
            "g": $0.g, "g_source": $0.gSource, "r": $0.r, "q": $0.q, "max_new_runs": $0.maxNewRuns,
            "bound_by": $0.boundBy,
          ] as [String: Any]
        },
      ]
      ctx.output.json(j)
      return 0
    }
    let o = ctx.output
    o.table(
      ["PARTITION", "NODES", "CPUS(idle/total)", "GPUS(used/total)", "GPUS FREE", "STATES"],
      parts.map { p in
        [
          p.name + (p.isDefault ? "*" : ""), "\(p.nodesUsable)/\(p.nodesTotal) usable",
          "\(p.cpusIdle)/\(p.cpusTotal)",
          "\(p.gpusUsed)/\(p.gpusTotal)", String(max(0, p.gpusTotal - p.gpusUsed)),
          p.states.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "),
        ]
      })
    o.line("your jobs: \(running) running, \(pending) pending")
    var binding: [String] = []
    if let m = limits.maxSubmitJobs {
      binding.append("\(limits.maxSubmitJobsSource ?? "MaxSubmitJobs=\(m)")")
    }
    if let m = limits.maxJobs { binding.append("\(limits.maxJobsSource ?? "MaxJobs=\(m)")") }
    if let a = limits.maxArraySize { binding.append("MaxArraySize=\(a)") }
    o.line("limits: " + (binding.isEmpty ? "none found" : binding.joined(separator: "; ")))
    if let p = plan {
      o.line(
        "capacity: g=\(p.g) (\(p.gSource)), r=\(p.r), q=\(p.q), max_new_runs=\(p.maxNewRuns) (bound by \(p.boundBy))"
      )
    }
    return 0
  }

  struct Check {
    var name: String
    var status: String  // ok, warn, fail, skip
    var detail: String
    var fix: String?
  }

  static func doctor(_ ctx: CLIContext) throws -> Int32 {
    var checks: [Check] = []
    let config: Config
    do { config = try ctx.config() } catch let e as SluiceError {
      checks.append(
        Check(name: "config", status: "fail", detail: "\(e)", fix: "fix the config file at the line named"))
      return report(ctx, checks)
    }
    checks.append(
      Check(
        name: "config", status: "ok",
        detail: config.sources.isEmpty ? "built-in defaults" : config.sources.joined(separator: ", ")))
    let backend = try Backends.slurm(ctx)
    let paths = try ctx.paths()
    // Slurm binaries.
    let programs = ["sbatch", "squeue", "sinfo", "sacct", "scontrol", "scancel"]
    let missing = programs.filter { backend.cli.locate($0) == nil }
    var slurmUp = false
    if missing.count == programs.count {
      checks.append(
        Check(
          name: "slurm binaries", status: config.backend == .slurm ? "fail" : "warn",
          detail: "none found; the local backend will run the plan",
          fix: "install slurm-client or set [slurm] bin_dir"))
    } else {
      var version = ""
      if let r = try? backend.cli.run(["sinfo", "--version"], timeout: 10) {
        version = r.stdoutText.trimmed()
      }
      checks.append(
        Check(
          name: "slurm binaries", status: missing.isEmpty ? "ok" : "fail",
          detail: missing.isEmpty
            ? "\(version) at \(Path.dirname(backend.cli.locate("sbatch")!))"
            : "missing: \(missing.joined(separator: ", "))",
          fix: missing.isEmpty ? nil : "install the missing Slurm client programs"))
      let ping = backend.ping()
      slurmUp = ping.ok
      checks.append(
        Check(
          name: "controller", status: ping.ok ? "ok" : "fail",
          detail: ping.message.isEmpty ? "no answer" : ping.message,
          fix: ping.ok ? nil : "start slurmctld, or check SLURM_CONF / [slurm] clusters"))
    }
    if slurmUp {
      // Accounting.
      let argv =
        ["sacct", "-n", "-X", "-P", "-S", "now", "-o", "JobID"]
        + config.clusterArgs
      if let r = try? backend.cli.run(argv, timeout: 20) {
        if r.succeeded {
          checks.append(Check(name: "accounting", status: "ok", detail: "sacct answers"))
        } else {
          let kind = SlurmErrors.classify(stderr: r.stderrText, exitCode: r.exitCode)
          let msg =
            r.timedOut
            ? "sacct gave no answer within 20 s"
            : r.stderrText.trimmed()
          checks.append(
            Check(
              name: "accounting", status: kind == .accountingDisabled ? "warn" : "fail", detail: msg,
              fix: kind == .accountingDisabled
                ? "outcomes come from the jobs' own exit records; enable slurmdbd for full accounting"
                : "start slurmdbd (and its database)"))
        }
      }
      // Partition, account, QOS.
      if let nodes = try? backend.nodes() {
        let names = Set(PartitionSummary.summarize(nodes).map(\.name))
        let wanted = config.defaults.partition.map { $0.split(separator: ",").map(String.init) } ?? []
        let bad = wanted.filter { !names.contains($0) }
        checks.append(
          Check(
            name: "partition", status: bad.isEmpty ? "ok" : "fail",
            detail: bad.isEmpty
              ? (wanted.isEmpty
                ? "default partition \(nodes.first(where: \.isDefaultPartition)?.partition ?? "?")"
                : wanted.joined(separator: ","))
              : "partition \(bad.joined(separator: ",")) does not exist (have: \(names.sorted().joined(separator: ", ")))",
            fix: bad.isEmpty
              ? nil : "set [defaults] partition to one of \(names.sorted().joined(separator: ", "))"))
      }
      if config.defaults.account != nil || config.defaults.qos != nil {
        let user = Backends.user(ctx.environment)
        if let r = try? backend.cli.run(
          SlurmQueries.sacctmgrAssociations(user: user, cluster: config.clusters), timeout: 15), r.succeeded
        {
          let assocs = SacctmgrParser.parseAssociations(r.stdoutText).items
          if let a = config.defaults.account {
            let ok = assocs.contains { $0.account == a }
            checks.append(
              Check(
                name: "account", status: ok ? "ok" : "fail",
                detail: ok ? "\(user) may use account \(a)" : "\(user) has no association with account \(a)",
                fix: ok
                  ? nil
                  : "ask your admin, or set [defaults] account to one of \(Set(assocs.map(\.account)).sorted().joined(separator: ", "))"
              ))
          }
          if let q = config.defaults.qos {
            let ok = assocs.contains { $0.qos.contains(q) }
            checks.append(
              Check(
                name: "qos", status: ok ? "ok" : "fail",
                detail: ok ? "\(user) may use QOS \(q)" : "\(user) may not use QOS \(q)",
                fix: ok
                  ? nil
                  : "set [defaults] qos to one of \(Set(assocs.flatMap(\.qos)).sorted().joined(separator: ", "))"
              ))
          }
        } else {
          checks.append(
            Check(
              name: "account/qos", status: "warn",
              detail: "sacctmgr cannot be read; account and QOS not checked"))
        }
      }
      // GPU flag style with sbatch --test-only.
      if let nodes = try? backend.nodes(),
        let gpuNode = nodes.first(where: { $0.gpusTotal > 0 && $0.state.usable })
      {
        let tmp = (ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/sluice-doctor-\(getpid()).sh"
        var r = Run(
          id: "doctor", name: "doctor", command: "true",
          resources: Resources(gpus: 1, time: "1", partition: gpuNode.partition), created: "")
        r.sweep = "doctor"
        let rc = RenderContext(
          logsDir: "/tmp", exitsDir: "/tmp", scriptsDir: "/tmp", projectDir: "/tmp", gpuFlag: config.gpuFlag,
          clusters: config.clusters)
        if let text = try? ScriptRenderer.render(
          Submission(tag: "sl0000000000", runs: [r], isArray: false), template: Template.builtin,
          templateName: "built-in", context: rc)
        {
          try? Files.writeAtomically(tmp, text: text, mode: 0o700)
          let v = backend.validate(scriptPath: tmp)
          Files.remove(tmp)
          checks.append(
            Check(
              name: "gpu flag", status: v.ok ? "ok" : "fail",
              detail: "gpu_flag = \(config.gpuFlag.rawValue) on partition \(gpuNode.partition): \(v.message)",
              fix: v.ok ? nil : "try [slurm] gpu_flag = \"gpus\" or \"gres\""))
        }
      }
    } else if missing.count < programs.count {
      checks.append(Check(name: "accounting", status: "skip", detail: "controller does not answer"))
    }
    // State folder.
    let probe = paths.stateDir + "/.doctor-probe"
    do {
      try Files.makeDirectory(paths.stateDir, mode: config.dirMode)
      try Files.writeAtomically(probe, text: "ok\n")
      Files.remove(probe)
      checks.append(
        Check(name: "state folder", status: "ok", detail: ctx.display(paths.stateDir) + " is writable"))
    } catch {
      checks.append(
        Check(
          name: "state folder", status: "fail", detail: "\(error)",
          fix: "make the folder writable or set [paths] state"))
    }
    // Tasks file, sentinel, templates.
    var doc: TasksDocument?
    do {
      doc = try TasksParser.parse(try Files.read(paths.tasksFile), path: ctx.display(paths.tasksFile))
      checks.append(
        Check(
          name: "tasks file", status: doc!.warnings.isEmpty ? "ok" : "warn",
          detail: doc!.warnings.isEmpty
            ? "\(doc!.tasks.count) tasks in \(doc!.phases.count) phases"
            : doc!.warnings.map(\.description).joined(separator: "; ")))
      checks.append(
        Check(
          name: "sentinel", status: doc!.hasSentinel ? "fail" : "ok",
          detail: doc!.hasSentinel
            ? "\(TasksDocument.sentinel) is in the tasks file: nothing will be submitted" : "absent",
          fix: doc!.hasSentinel ? "remove the sentinel once the docs check passes" : nil))
    } catch let d as DiagnosticsError {
      checks.append(
        Check(name: "tasks file", status: "fail", detail: d.description, fix: "fix the lines named"))
    } catch {
      checks.append(
        Check(
          name: "tasks file", status: "fail", detail: "\(error)",
          fix: "create it ('sluice init') or pass --tasks"))
    }
    if let doc {
      let engine = try ctx.engine(backend: backend)
      var bad: [String] = []
      var n = 0
      for t in doc.tasks where t.spec != nil {
        n += 1
        var st = ActiveState()
        var d2 = doc
        d2.phases = d2.phases.map { p in
          var p = p;
          p.tasks = p.tasks.filter { $0.id == t.id }.map {
            var x = $0; x.marker = .todo; x.phase = p.index; return x
          }; return p
        }
        Expander.expand(document: d2, state: &st, config: config, now: Date())
        guard let r = st.runs.first else { continue }
        do {
          let tpl = try engine.template(named: r.template)
          _ = try ScriptRenderer.render(
            Submission(tag: "sl0000000000", runs: [r], isArray: false), template: tpl.text,
            templateName: tpl.name, context: engine.renderContext)
        } catch { bad.append("\(t.title): \(error)") }
      }
      checks.append(
        Check(
          name: "templates", status: bad.isEmpty ? "ok" : "fail",
          detail: bad.isEmpty ? "\(n) task(s) render" : bad.joined(separator: "; "),
          fix: bad.isEmpty ? nil : "fix the template or the task's values"))
    }
    return report(ctx, checks)
  }

  static func report(_ ctx: CLIContext, _ checks: [Check]) -> Int32 {
    let failed = checks.contains { $0.status == "fail" }
    if ctx.json {
      ctx.output.json(
        [
          "ok": !failed,
          "checks": checks.map {
            ["name": $0.name, "status": $0.status, "detail": $0.detail, "fix": $0.fix] as [String: Any?]
          },
        ] as [String: Any])
    } else {
      let o = ctx.output
      for c in checks {
        let mark: String
        switch c.status {
        case "ok": mark = o.paint("ok  ", "32")
        case "warn": mark = o.paint("warn", "33")
        case "skip": mark = "skip"
        default: mark = o.paint("FAIL", "31")
        }
        o.line("\(mark)  \(c.name): \(c.detail)")
        if let f = c.fix, c.status != "ok" { o.line("      fix: \(f)") }
      }
      o.line(failed ? "doctor: some checks failed" : "doctor: all checks passed")
    }
    return failed ? 1 : 0
  }
}
