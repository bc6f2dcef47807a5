import FoundationEssentials
import Glibc

/// The command-line front end: parses arguments, runs a command, maps errors to exit codes.
public enum SluiceCLI {
  public static let version = "0.1.0"

  public static let commands: [CommandSpec] = [
    CommandSpec(
      "init", summary: "Create sluice.toml, .sluice/ and (if none exists) an example tasks.md.",
      usage: "sluice init", examples: ["sluice init"], json: false),
    CommandSpec(
      "tasks", summary: "Show phases, tasks, markers, runs' states, the current phase and what blocks what.",
      usage: "sluice tasks [--next]",
      options: [OptionSpec("next", help: "print only the task to work on next")],
      examples: ["sluice tasks", "sluice tasks --next --json"]),
    CommandSpec(
      "sweep", summary: "Create, list and show sweeps (groups of runs).",
      usage: "sluice sweep create NAME --goal TEXT | sweep list | sweep show NAME",
      options: [OptionSpec("goal", value: "TEXT", help: "what the sweep is for")], positionals: 1...2,
      examples: [
        "sluice sweep create lr-sweep --goal 'find the best learning rate'", "sluice sweep list",
        "sluice sweep show lr-sweep --json",
      ]),
    CommandSpec(
      "run", summary: "Record a run by hand, or queue a held one.",
      usage: "sluice run add --name N --command C [--sweep S] [resources] [--held] | run start ID",
      options: [
        OptionSpec("name", value: "NAME", help: "run name"),
        OptionSpec("command", value: "CMD", help: "shell command to run"),
        OptionSpec("sweep", value: "SWEEP", help: "file the run under this sweep (created if missing)"),
        OptionSpec("held", help: "record the run as held (start it later with 'sluice run start')"),
      ] + resourceOptions, positionals: 1...2,
      examples: [
        "sluice run add --name baseline --command 'python train.py' --gpus 1 --time 2:00:00",
        "sluice run add --name probe --command 'nvidia-smi' --held", "sluice run start probe",
      ]),
    CommandSpec(
      "grid", summary: "Record one run per configuration of a parameter grid.",
      usage: "sluice grid --sweep S --command 'cmd {p}' --param p=v1,v2 [--param q=...] [resources] [--held]",
      options: [
        OptionSpec("sweep", value: "SWEEP", help: "sweep to file the runs under (created if missing)"),
        OptionSpec("command", value: "CMD", help: "command with {name} placeholders"),
        OptionSpec("param", value: "NAME=V1,V2", repeatable: true, help: "a grid parameter and its values"),
        OptionSpec("held", help: "record the runs as held"),
      ] + resourceOptions,
      examples: [
        "sluice grid --sweep lr --command 'python train.py --lr {lr} --seed {seed}' --param lr=1e-3,1e-4 --param seed=0,1"
      ]),
    CommandSpec(
      "runs",
      summary:
        "List tracked runs with live states (the scheduler is asked when the last sync is older than [slurm] sync_age).",
      usage: "sluice runs [--sweep S] [--state STATE] [--task ID] [--sync]",
      options: [
        OptionSpec("sweep", value: "SWEEP", help: "only this sweep"),
        OptionSpec("state", value: "STATE", help: "only runs in this state"),
        OptionSpec("task", value: "ID", help: "only runs of this task"),
        OptionSpec(
          "sync",
          help: "ask the scheduler first even if the last sync is recent (one squeue + one sacct)"),
        OptionSpec("no-sync", help: "show the states last recorded, without asking the scheduler"),
      ], examples: ["sluice runs", "sluice runs --state failed --json", "sluice runs --no-sync"]),
    CommandSpec(
      "show", summary: "Show one run in full: command, resources, job, state, logs, script.",
      usage: "sluice show RUN",
      positionals: 1...1, examples: ["sluice show p1-baseline"]),
    CommandSpec(
      "plan", summary: "Show what a tick would submit now and why, with the capacity arithmetic.",
      usage: "sluice plan [--scripts] [--test-only] [--gpus-free N]",
      options: [
        OptionSpec("scripts", help: "print the sbatch scripts that would be submitted"),
        OptionSpec("test-only", help: "ask 'sbatch --test-only' to validate each script, submitting nothing"),
        OptionSpec("gpus-free", value: "N", help: "use N GPU slots instead of asking the scheduler"),
      ], examples: ["sluice plan", "sluice plan --scripts", "sluice plan --gpus-free 8 --json"]),
    CommandSpec(
      "tick", summary: "One cycle: sync with Slurm, expand tasks, submit what fits, write markers back, log.",
      usage: "sluice tick [--quiet] [--dry-run]",
      options: [
        OptionSpec("quiet", help: "print nothing when nothing changed (for cron)"),
        OptionSpec("dry-run", help: "plan and render, submit nothing, change nothing"),
        OptionSpec("gpus-free", value: "N", help: "use N GPU slots instead of asking the scheduler"),
      ], examples: ["sluice tick", "*/5 * * * * cd ~/project && sluice tick --quiet"]),
    CommandSpec(
      "wait",
      summary:
        "Wait until runs finish (asking the scheduler at most once per [slurm] sync_age; it submits nothing).",
      usage: "sluice wait RUN... | --sweep S | --task ID [--timeout SECONDS]",
      options: [
        OptionSpec("sweep", value: "SWEEP", help: "every run of the sweep"),
        OptionSpec("task", value: "ID", help: "every run of the task"),
        OptionSpec("timeout", value: "SECONDS", help: "give up after this long (exit 124)"),
      ],
      positionals: 0...1000,
      examples: [
        "sluice wait --task p1-baseline", "sluice wait --sweep p1-learning-rate-sweep --timeout 3600",
      ]),
    CommandSpec(
      "cancel", summary: "Cancel runs (one scancel call).",
      usage: "sluice cancel RUN... | --sweep S | --task ID",
      options: [
        OptionSpec("sweep", value: "SWEEP", help: "every unfinished run of the sweep"),
        OptionSpec("task", value: "ID", help: "every unfinished run of the task"),
      ],
      positionals: 0...1000,
      examples: ["sluice cancel p1-baseline", "sluice cancel --sweep p1-learning-rate-sweep"]),
    CommandSpec(
      "retry", summary: "Queue finished runs again (a new attempt).",
      usage: "sluice retry RUN... | --failed [--sweep S]",
      options: [
        OptionSpec("failed", help: "every run that ended badly"),
        OptionSpec("sweep", value: "SWEEP", help: "only in this sweep"),
      ],
      positionals: 0...1000,
      examples: ["sluice retry p1-baseline", "sluice retry --failed --sweep p1-learning-rate-sweep"]),
    CommandSpec(
      "logs", summary: "Print a run's stdout (or stderr).", usage: "sluice logs RUN [--err] [--follow]",
      options: [
        OptionSpec("err", help: "stderr instead of stdout"),
        OptionSpec("follow", help: "keep printing as the log grows, until the run ends"),
      ],
      positionals: 1...1, examples: ["sluice logs p1-baseline", "sluice logs p1-baseline --err"], json: false),
    CommandSpec(
      "events", summary: "Completions, failures, submission errors and lost jobs, each once per cursor.",
      usage: "sluice events [--since CURSOR]",
      options: [
        OptionSpec("since", value: "CURSOR", help: "only events after this cursor (the last seq you saw)")
      ],
      examples: ["sluice events --json", "sluice events --since 42"]),
    CommandSpec(
      "log", summary: "Print the iteration log (.sluice/log.md).", usage: "sluice log",
      examples: ["sluice log", "sluice log | tail -20"], json: false),
    CommandSpec(
      "cluster",
      summary: "Partitions, nodes, CPUs and GPUs, your jobs, binding limits and this project's capacity.",
      usage: "sluice cluster [--partition P]",
      options: [OptionSpec("partition", value: "P", help: "only this partition")],
      examples: ["sluice cluster", "sluice cluster --partition gpu --json"]),
    CommandSpec(
      "doctor",
      summary: "Check Slurm, accounting, partitions, GPU flags, state folder, tasks file and templates.",
      usage: "sluice doctor", examples: ["sluice doctor", "sluice doctor --json"]),
    CommandSpec(
      "completions", summary: "Print a shell completion script (bash; zsh through bashcompinit).",
      usage: "sluice completions bash", positionals: 1...1,
      examples: [
        "source <(sluice completions bash)",
        "sluice completions bash > ~/.local/share/bash-completion/completions/sluice",
      ],
      json: false),
    CommandSpec(
      "sbatch", summary: "Drop-in for sbatch: submits through sbatch and records a tracked run.",
      usage: "sluice sbatch [--sweep S] [sbatch options] script.sh [args]", positionals: 0...10000,
      examples: ["alias sbatch='sluice sbatch'", "sluice sbatch --sweep probes -p gpu --gres=gpu:1 job.sh"],
      json: false),
  ]

  static let resourceOptions: [OptionSpec] = [
    OptionSpec("gpus", value: "N", help: "GPUs"), OptionSpec("cpus", value: "N", help: "CPUs per task"),
    OptionSpec("mem", value: "SIZE", help: "memory, e.g. 16G"),
    OptionSpec("time", value: "LIMIT", help: "time limit, e.g. 2:00:00"),
    OptionSpec("partition", value: "P", help: "partition"),
    OptionSpec("account", value: "A", help: "account"),
    OptionSpec("qos", value: "Q", help: "QOS"), OptionSpec("constraint", value: "C", help: "node features"),
    OptionSpec("nodes", value: "N", help: "nodes"), OptionSpec("ntasks", value: "N", help: "tasks"),
  ]

  public static func usage() -> String {
    var s =
      "sluice \(version): run a research plan on Slurm without flooding it, losing a job or submitting one twice.\n\n"
    s += "Usage: sluice COMMAND [options]   (sluice COMMAND --help for each)\n\nCommands:\n"
    for c in commands {
      s += "  " + c.name.padded(to: 10) + c.summary + "\n"
    }
    s += """

      Exit codes: 0 ok, 1 a run or check failed, 2 usage error, 3 stopped by the sentinel,
      65 bad tasks file, 66 no tasks file, 69 Slurm unavailable, 74 a state file sluice cannot read,
      75 another sluice holds the lock, 78 bad config, 124 wait timed out.

      """
    return s
  }

  public static func main(_ arguments: [String]) -> Int32 {
    // A child that exits before reading its input (an sbatch that cannot find its
    // configuration, say) must give the writer EPIPE, not kill it by SIGPIPE with the
    // project locked and its runs `submitting`. Children get the default back
    // (CommandRunner), and output to a reader gone away just ends (Output.writeAll).
    signal(SIGPIPE, SIG_IGN)
    let env = Environment.current()
    let noColor = arguments.contains("--no-color")
    let output = Output.standard(noColor: noColor, environment: env)
    return run(arguments, environment: env, output: output)
  }

  public static func run(
    _ arguments: [String], environment: [String: String], output: Output,
    runner: CommandRunning = ProcessRunner(),
    clock: Clock = SystemClock()
  ) -> Int32 {
    guard let name = arguments.first else {
      output.err(usage())
      return 2
    }
    if name == "--version" || name == "version" {
      output.line("sluice \(version)")
      return 0
    }
    if name == "--help" || name == "-h" || name == "help" {
      output.out(usage())
      return 0
    }
    guard let spec = commands.first(where: { $0.name == name }) else {
      let hint =
        closest(name, in: commands.map(\.name), maxDistance: 3).map { "; did you mean '\($0)'?" } ?? ""
      output.error("sluice: unknown command '\(name)'\(hint) (see 'sluice --help')")
      return 2
    }
    if name == "sbatch" {
      return SbatchCommand.run(
        Array(arguments.dropFirst()), environment: environment, output: output, runner: runner, clock: clock)
    }
    let parsed: ParsedArguments
    do { parsed = try ArgumentParser.parse(Array(arguments.dropFirst()), spec: spec) } catch {
      output.error("sluice \(name): \(error)")
      return 2
    }
    if parsed.flag("help") {
      output.out(ArgumentParser.help(spec))
      return 0
    }
    let ctx = CLIContext(args: parsed, environment: environment, output: output, runner: runner, clock: clock)
    do {
      return try Commands.dispatch(name, ctx)
    } catch let e as SluiceError {
      if case .locked = e {
        output.error("sluice \(name): \(e) (retry later)")
      } else if case .tasks(let d) = e {
        output.error(d.description)
        output.error(
          "sluice \(name): the tasks file has \(d.diagnostics.count) error(s); nothing was written or submitted"
        )
      } else if case .config(let d) = e {
        output.error(d.description)
      } else {
        output.error("sluice \(name): \(e)")
      }
      return e.exitCode
    } catch let e as UsageError {
      output.error("sluice \(name): \(e)")
      return 2
    } catch let e as SlurmCommandError {
      output.error("sluice \(name): Slurm is unavailable: \(e)")
      return 69
    } catch let e as StoreError {
      // A state file that is damaged, newer than this sluice, or cannot be written.
      output.error("sluice \(name): \(e)")
      return 74
    } catch {
      output.error("sluice \(name): \(error)")
      return 1
    }
  }
}
