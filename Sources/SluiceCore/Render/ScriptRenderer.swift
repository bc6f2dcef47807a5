import FoundationEssentials
import Glibc

/// One sbatch submission: a single run, or several runs with the same resources
/// as one job array (index i runs `members[i]`).
public struct Submission: Equatable, Sendable {
  /// What differs between the runs of one submission (everything else is the
  /// first run's): a copy of each whole Run, ~600 bytes and ~20 strings' retains,
  /// was a fifth of what a 1,000-run tick did before sbatch could start.
  public struct Member: Equatable, Sendable {
    public var id: String
    public var attempt: Int
    public var command: String

    public init(_ r: Run) {
      id = r.id
      attempt = r.attempt
      command = r.command
    }
  }

  public var tag: String
  /// The first run: resources, template, sweep, environment and folder of all.
  public var first: Run
  public var members: [Member]
  public var isArray: Bool
  /// `%` throttle for arrays.
  public var throttle: Int?

  public init(tag: String, runs: [Run], isArray: Bool, throttle: Int? = nil) {
    self.init(tag: tag, first: runs[0], members: runs.map(Member.init), isArray: isArray, throttle: throttle)
  }

  public init(tag: String, first: Run, members: [Member], isArray: Bool, throttle: Int? = nil) {
    self.tag = tag
    self.first = first
    self.members = members
    self.isArray = isArray
    self.throttle = throttle
  }

  public var count: Int { members.count }

  public var resources: Resources { first.resources }

  /// The job name carries the tag, so Slurm alone can tell which runs a job is.
  public var jobName: String {
    let base = isArray ? (first.sweep ?? first.name) : first.name
    return Shell.sanitizeName(base, max: 48) + ".\(tag)"
  }
}

/// Where things go, all absolute paths.
public struct RenderContext: Equatable, Sendable {
  public var logsDir: String
  public var exitsDir: String
  /// Where submissions' scripts and run tables are kept.
  public var scriptsDir: String
  public var projectDir: String
  public var gpuFlag: GPUFlag
  public var clusters: String?

  public init(
    logsDir: String, exitsDir: String, scriptsDir: String, projectDir: String, gpuFlag: GPUFlag,
    clusters: String?
  ) {
    self.logsDir = logsDir
    self.exitsDir = exitsDir
    self.scriptsDir = scriptsDir
    self.projectDir = projectDir
    self.gpuFlag = gpuFlag
    self.clusters = clusters
  }
}

public struct RenderError: Error, CustomStringConvertible, Equatable {
  public var run: String
  public var message: String
  public var description: String { "run \(run): \(message)" }
}

/// Renders sbatch scripts. Pure: the text is a function of its inputs.
public enum ScriptRenderer {
  /// Log folder of a run: `logs/<sweep>/`.
  public static func logFolder(_ run: Run, context: RenderContext) -> String {
    context.logsDir + "/" + Shell.sanitizeName(run.sweep ?? "runs")
  }

  public static func outputPattern(_ s: Submission, context: RenderContext, err: Bool) -> String {
    let dir = logFolder(s.first, context: context)
    let ext = err ? "err" : "out"
    if s.isArray {
      return "\(dir)/\(Shell.sanitizeName(s.first.sweep ?? "array", max: 48))-%A_%a.\(ext)"
    }
    return "\(dir)/\(Shell.sanitizeName(s.first.id, max: 96))-%j.\(ext)"
  }

  /// The concrete log path once the job id is known.
  public static func resolvedLog(pattern: String, jobID: Int, index: Int?) -> String {
    LogPattern(pattern).path(job: String(jobID), index: index)
  }

  public static func exitFile(_ run: Run, context: RenderContext) -> String {
    context.exitsDir + "/" + run.id + ".a" + String(run.attempt)
  }

  static func checkPath(_ p: String, _ run: String) throws {
    if p.utf8.contains(where: {
      $0 == 0x0A || $0 == 0x0D || $0 == 0 || $0 == 0x27 || $0 == 0x22 || $0 == 0x20
    }) {
      throw RenderError(
        run: run, message: "path '\(p)' has spaces, quotes or newlines; Slurm cannot take it in #SBATCH")
    }
  }

  static func checkLine(_ s: String, what: String, run: String) throws {
    func oneLine(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
      for c in b where c == 0x0A || c == 0x0D || c == 0 { return false }
      return true
    }
    let ok =
      s.utf8.withContiguousStorageIfAvailable(oneLine) ?? Array(s.utf8).withUnsafeBufferPointer(oneLine)
    if !ok { throw RenderError(run: run, message: "\(what) must be one line") }
  }

  /// `#SBATCH` lines for a submission.
  public static func directives(_ s: Submission, context: RenderContext) throws -> [String] {
    let r = s.resources
    var d: [String] = []
    let name = s.first.id
    d.append("--job-name=\(s.jobName)")
    let out = outputPattern(s, context: context, err: false)
    let err = outputPattern(s, context: context, err: true)
    try checkPath(out, name)
    d.append("--output=\(out)")
    d.append("--error=\(err)")
    if let p = r.partition { d.append("--partition=\(p)") }
    if let a = r.account { d.append("--account=\(a)") }
    if let q = r.qos { d.append("--qos=\(q)") }
    if let t = r.time { d.append("--time=\(t)") }
    if let n = r.nodes { d.append("--nodes=\(n)") }
    if let n = r.ntasks { d.append("--ntasks=\(n)") }
    if let c = r.cpus { d.append("--cpus-per-task=\(c)") }
    if let m = r.mem { d.append("--mem=\(m)") }
    if let c = r.constraint { d.append("--constraint=\(c)") }
    if let g = r.gpus, g > 0 {
      switch context.gpuFlag {
      case .gres: d.append("--gres=gpu:\(g)")
      case .gpus: d.append("--gpus=\(g)")
      case .gpusPerNode: d.append("--gpus-per-node=\(g)")
      }
    }
    if s.isArray {
      var spec = "0-\(s.count - 1)"
      if s.count == 1 { spec = "0" }
      if let t = s.throttle, t > 0, t < s.count { spec += "%\(t)" }
      d.append("--array=\(spec)")
    }
    if let c = context.clusters { d.append("--clusters=\(c)") }
    for x in d { try checkLine(x, what: "an sbatch option", run: name) }
    return d
  }

  /// The job body for one run: record start, run the command in a subshell,
  /// record the exit code atomically (temp + rename) for when accounting is off.
  static func body(_ run: Run, context: RenderContext, indent: String, into out: inout [UInt8]) throws {
    try body(
      id: run.id, attempt: run.attempt, command: run.command, context: context, indent: indent, into: &out)
  }

  /// `body` from the three fields it reads (a Run passed whole was copied, ~25
  /// retains, once a run of an array's table).
  static func body(
    id: String, attempt: Int, command: String, context: RenderContext, indent: String, into out: inout [UInt8]
  ) throws {
    try checkLine(command, what: "the command", run: id)
    try checkLine(context.exitsDir, what: "the exit file", run: id)
    try checkLine(id, what: "the exit file", run: id)
    // Bytes, not String appends (~450 instructions each): an array of 1,000 runs
    // renders 3,000 of these lines.
    func start(_ name: StaticString) {
      Shell.appendBytes(indent, to: &out)
      out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
    }
    start("SLUICE_RUN=")
    Shell.appendQuoted(id, to: &out)
    // exitFile(run, context:), quoted: '<exits>/<id>.a<attempt>'.
    out.append(0x0A)
    start("SLUICE_EXIT=")
    out.append(0x27)
    Shell.appendQuotedBody(context.exitsDir, to: &out)
    out.append(0x2F)
    Shell.appendQuotedBody(id, to: &out)
    out += [0x2E, 0x61]  // ".a"
    Shell.appendDigits(attempt, to: &out)
    out.append(0x27)
    out.append(0x0A)
    start("SLUICE_COMMAND=")
    Shell.appendQuoted(command, to: &out)
    out.append(0x0A)
  }

  /// Where a submission's script is kept, named by its tag.
  public static func scriptPath(_ s: Submission, context: RenderContext) -> String {
    context.scriptsDir + "/" + s.tag + ".sh"
  }

  /// Where an array's run table is kept: next to its script, named by its tag.
  public static func tablePath(_ s: Submission, context: RenderContext) -> String {
    context.scriptsDir + "/" + s.tag + ".runs"
  }

  /// An array's run table: the shell lines that set each index's run, exit file and
  /// command, sourced by the array's script. Kept in a file beside the script, not in
  /// it: Slurm copies a script to its controller's state, and 1,000 runs' worth
  /// (~130 KB) made `sbatch` 5 ms slower (14.4 vs 9.6 ms, median of 12).
  public static func table(_ s: Submission, context: RenderContext) throws -> [UInt8] {
    var table: [UInt8] = []
    let first = s.first
    table.reserveCapacity(s.count * (first.command.utf8.count + context.exitsDir.utf8.count + 120))
    table += "# Runs of submission \(s.tag) by array index, sourced by its script. Written by sluice.\n".utf8
    table += "case \"${SLURM_ARRAY_TASK_ID:-}\" in\n".utf8
    let runs = s.members
    for i in runs.indices {
      table += [0x20, 0x20]
      Shell.appendDigits(i, to: &table)
      table += [0x29, 0x0A]  // ")\n"
      try self.body(
        id: runs[i].id, attempt: runs[i].attempt, command: runs[i].command, context: context, indent: "    ",
        into: &table)
      Shell.appendBytes("    ;;\n", to: &table)
    }
    table += "  *) echo \"sluice: no run for array index ${SLURM_ARRAY_TASK_ID:-none}\" >&2; exit 2 ;;\n".utf8
    table += "esac\n".utf8
    return table
  }

  /// Renders the whole script from `template` (text, with its name for errors). An
  /// array's script sources its run table (`table`, at `tablePath`).
  public static func render(
    _ s: Submission, template: String, templateName: String, context: RenderContext
  ) throws -> String {
    let first = s.first
    let dirs = try directives(s, context: context)
    var setup: [String] = []
    for l in first.setup {
      try checkLine(l, what: "a setup line", run: first.id)
      setup.append(l)
    }
    var env: [String] = []
    for e in first.env {
      guard let eq = e.firstIndex(of: "="), Validate.envAssignment(e) else {
        throw RenderError(run: first.id, message: "env '\(e)' must be KEY=VALUE")
      }
      env.append("export \(e[..<eq])=\(Shell.alwaysQuote(String(e[e.index(after: eq)...])))")
    }
    var workdir = ""
    let wd = first.workdir ?? context.projectDir
    try checkLine(wd, what: "workdir", run: first.id)
    workdir = "cd -- \(Shell.alwaysQuote(wd)) || exit 1"

    var table: [UInt8] = []
    if s.isArray {
      let path = tablePath(s, context: context)
      try checkLine(path, what: "the run table's path", run: first.id)
      table += "SLUICE_TABLE=".utf8
      Shell.appendQuoted(path, to: &table)
      table +=
        "\n. \"$SLUICE_TABLE\" || { echo \"sluice: cannot read the run table $SLUICE_TABLE\" >&2; exit 2; }"
        .utf8
    } else {
      try self.body(first, context: context, indent: "", into: &table)
      table.removeLast()  // the last newline: lines are joined below
    }
    var body: [String] = [String(decoding: table, as: UTF8.self)]
    body += [
      "printf 'start %s %s\\n' \"$(date +%s)\" \"${SLURM_JOB_ID:-$$}\" > \"$SLUICE_EXIT.start\" 2>/dev/null",
      "( eval \"$SLUICE_COMMAND\" )",
      "SLUICE_CODE=$?",
      "printf '%s %s\\n' \"$SLUICE_CODE\" \"$(date +%s)\" > \"$SLUICE_EXIT.tmp\" 2>/dev/null"
        + " && mv -f \"$SLUICE_EXIT.tmp\" \"$SLUICE_EXIT\" 2>/dev/null",
      "exit $SLUICE_CODE",
    ]
    let what =
      s.isArray
      ? "\(s.count) runs of sweep \(first.sweep ?? "-") (tag \(s.tag))"
      : "run \(first.id) (tag \(s.tag))"
    let values: [String: String] = [
      "directives": dirs.map { "#SBATCH \($0)" }.joined(separator: "\n"),
      "what": what,
      "setup": setup.joined(separator: "\n"),
      "env": env.joined(separator: "\n"),
      "workdir": workdir,
      "body": body.joined(separator: "\n"),
      "run_id": first.id,
      "tag": s.tag,
      "job_name": s.jobName,
    ]
    return try Template.render(template, name: templateName, values: values)
  }
}

/// A log file pattern split once at its `%A`/`%j` (the job id) and `%a` (the array
/// index), to fill for each of a submission's runs; other `%` codes stay as they are.
public struct LogPattern: Sendable {
  enum Piece: Sendable {
    case text([UInt8])
    case job
    case index
  }
  let pieces: [Piece]

  public init(_ pattern: String) {
    // On bytes: '%' and the letters are ASCII; other bytes are copied as they are.
    var pieces: [Piece] = []
    var text: [UInt8] = []
    func flush() {
      if !text.isEmpty {
        pieces.append(.text(text))
        text.removeAll()
      }
    }
    var percent = false
    for b in pattern.utf8 {
      if percent {
        percent = false
        switch b {
        case 0x41, 0x6A:  // A, j
          flush()
          pieces.append(.job)
        case 0x61:  // a
          flush()
          pieces.append(.index)
        default: text += [0x25, b]
        }
      } else if b == 0x25 {
        percent = true
      } else {
        text.append(b)
      }
    }
    if percent { text.append(0x25) }
    flush()
    self.pieces = pieces
  }

  /// The path for job `job` (its id as text) and array index `index` (none: empty).
  public func path(job: String, index: Int?) -> String {
    // Made as bytes and decoded once: String appends piece by piece took ~2,500
    // instructions a path (callgrind), two paths a run.
    let i = index.map(String.init) ?? ""
    var job = job
    var i8 = i
    var size = 0
    for p in pieces {
      switch p {
      case .text(let t): size += t.count
      case .job: size += job.utf8.count
      case .index: size += i.utf8.count
      }
    }
    // Written straight into the new string's storage.
    return job.withUTF8 { j in
      i8.withUTF8 { x in
        String(unsafeUninitializedCapacity: size) { buf in
          var n = 0
          func put(_ b: UnsafeBufferPointer<UInt8>) {
            guard let from = b.baseAddress, !b.isEmpty else { return }
            (buf.baseAddress! + n).update(from: from, count: b.count)
            n += b.count
          }
          for p in pieces {
            switch p {
            case .text(let t): t.withUnsafeBufferPointer(put)
            case .job: put(j)
            case .index: put(x)
            }
          }
          return n
        }
      }
    }
  }

}
