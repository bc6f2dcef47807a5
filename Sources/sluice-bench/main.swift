import Foundation
import SluiceCore

#if canImport(Glibc)
  import Glibc
#endif

// Benchmarks for sluice. Each prints a JSON object on stdout; bench/run.sh
// collects them into bench/results/. Nothing here asserts a time: the figures
// are measured and reported.

struct Timed {
  var seconds: Double
  var maxRSSKB: Int
  var exit: Int32
  var stdout: String
}

/// Runs argv, waits with wait4 for its rusage, returns wall time and peak memory.
func timed(_ argv: [String], cwd: String? = nil, env: [String: String]? = nil, stdin: String? = nil) -> Timed
{
  let start = Date()
  var outPipe: [Int32] = [0, 0]
  pipe(&outPipe)
  var actions = posix_spawn_file_actions_t()
  posix_spawn_file_actions_init(&actions)
  posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
  posix_spawn_file_actions_addclose(&actions, outPipe[0])
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
  let environment = (env ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
  var pid: pid_t = 0
  let old = FileManager.default.currentDirectoryPath
  if let cwd { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
  let argvC = argv.map { strdup($0) } + [nil]
  let envC = environment.map { strdup($0) } + [nil]
  let rc = posix_spawnp(&pid, argv[0], &actions, nil, argvC, envC)
  _ = FileManager.default.changeCurrentDirectoryPath(old)
  close(outPipe[1])
  precondition(rc == 0, "cannot start \(argv[0])")
  let data = (try? Files.readAll(outPipe[0], name: "output")) ?? Data()
  close(outPipe[0])
  var status: Int32 = 0
  var usage = rusage()
  wait4(pid, &status, 0, &usage)
  return Timed(
    seconds: Date().timeIntervalSince(start), maxRSSKB: Int(usage.ru_maxrss), exit: (status >> 8) & 0xff,
    stdout: String(decoding: data, as: UTF8.self))
}

/// What `fd` gives until its end.
func median(_ xs: [Double]) -> Double {
  let s = xs.sorted()
  return s.isEmpty ? 0 : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

func emit(_ obj: [String: Any]) {
  let d = try! JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
  print(String(decoding: d, as: UTF8.self))
}

func tempDir(_ name: String) -> String {
  let d = NSTemporaryDirectory() + "sluice-bench-\(name)-\(getpid())"
  try? FileManager.default.removeItem(atPath: d)
  try! FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
  return d
}

let sluice = Files.absolute(
  CommandLine.arguments.count > 2 && CommandLine.arguments[1] != "mkstore"
    ? CommandLine.arguments[2] : ".build/release/sluice")
let now = Timestamps.iso(Date())

func run(_ i: Int, sweep: String, state: RunState) -> Run {
  var r = Run(
    id: "\(sweep).\(i)", name: "\(sweep)[i=\(i)]", sweep: sweep, task: sweep,
    command: "python train.py --i \(i)",
    params: [["i", String(i)]], resources: Resources(gpus: 1, time: "1:00:00", partition: "gpu"), created: now
  )
  r.state = state
  r.source = "tasks"
  if state.isTerminal {
    r.jobID = "\(1000 + i / 1000)_\(i % 1000)"
    r.exitCode = 0
    r.ended = now
  }
  return r
}

/// A state folder with `active` in-flight runs and `archived` finished ones.
func makeStore(_ dir: String, active: Int, archived: Int, arrayJob: Int? = nil) throws -> Store {
  let store = Store(dir: dir + "/.sluice")
  var s = ActiveState()
  s.sweeps = [
    Sweep(id: "old", name: "old", created: now, task: nil),
    Sweep(id: "live", name: "live", created: now, task: "live"),
  ]
  var left = archived
  var n = 0
  while left > 0 {
    let k = min(1000, left)
    s.runs = (0..<k).map { run(n + $0, sweep: "old", state: .completed) }
    try store.save(&s)
    n += k
    left -= k
  }
  s.runs = (0..<active).map { i in
    var r = run(i, sweep: "live", state: .pending)
    if let a = arrayJob {
      r.jobID = "\(a)_\(i)"
      r.arrayJobID = a
      r.arrayIndex = i
    } else {
      r.jobID = String(900_000 + i)
    }
    r.submitted = now
    r.submission = "sl0000000000"
    return r
  }
  try store.save(&s)
  return store
}

func storeBench() throws {
  let small = tempDir("small")
  let big = tempDir("big")
  let sSmall = try makeStore(small, active: 1000, archived: 1000)
  let sBig = try makeStore(big, active: 1000, archived: 100_000)
  // Interleaved, and the fastest of many: both loads do the same work unless the
  // archive leaks into it, so noise is all the spread there is.
  var smallT: [Double] = []
  var bigT: [Double] = []
  for _ in 0..<60 {
    for (s, into) in [(sSmall, 0), (sBig, 1)] {
      let a = Date()
      let st = try s.loadActive()
      precondition(st.runs.count == 1000)
      if into == 0 {
        smallT.append(Date().timeIntervalSince(a))
      } else {
        bigT.append(Date().timeIntervalSince(a))
      }
    }
  }
  let small1 = smallT.min() ?? 0
  let big1 = bigT.min() ?? 0
  write(small + "/tasks.md", "## P\n- [ ] live\n")
  write(big + "/tasks.md", "## P\n- [ ] live\n")
  var runsT: [Double] = []
  var rss = 0
  var count = 0
  for _ in 0..<5 {
    // Measured from a small fresh process: a child spawned by this (large) one
    // would report this process's memory as its own peak (vfork shares it).
    let m = timed([CommandLine.arguments[0], "measure", big, sluice, "runs", "--json"])
    let j = (try? JSONSerialization.jsonObject(with: Data(m.stdout.utf8)) as? [String: Any]) ?? [:]
    runsT.append(j["seconds"] as? Double ?? 0)
    rss = max(rss, j["max_rss_kb"] as? Int ?? 0)
    count = j["ids"] as? Int ?? 0
  }
  var humanT: [Double] = []
  for _ in 0..<3 { humanT.append(timed([sluice, "runs"], cwd: big).seconds) }
  emit([
    "bench": "store", "active": 1000, "archived_small": 1000, "archived_big": 100_000,
    "load_for_tick_small_s": small1, "load_for_tick_big_s": big1, "load_stat": "fastest of 60, interleaved",
    "load_ratio": big1 / small1,
    "runs_json_s": median(runsT), "runs_json_max_rss_mb": Double(rss) / 1024, "runs_listed": count,
    "runs_table_s": median(humanT),
  ])
  try? FileManager.default.removeItem(atPath: small)
  try? FileManager.default.removeItem(atPath: big)
}

func write(_ path: String, _ text: String) { try! Files.writeAtomically(path, text: text, mode: 0o644) }

func sh(_ argv: [String]) -> String { timed(argv).stdout.trimmingCharacters(in: .whitespacesAndNewlines) }

/// A tick that submits nothing, with 1,000 runs in flight (a held array) and
/// 100,000 in the archive, against the bare squeue + sinfo it makes.
func tickBench() throws {
  let dir = tempDir("tick")
  let job = Int(
    sh([
      "sbatch", "--parsable", "--hold", "--array=0-999", "-J", "bench.sl0000000000", "-o", "/dev/null",
      "--wrap", "true",
    ]))!
  defer { _ = sh(["scancel", String(job)]) }
  _ = try makeStore(dir, active: 1000, archived: 100_000, arrayJob: job)
  write(dir + "/tasks.md", "## P\n- [ ] live\n")
  write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n")
  let user = ProcessInfo.processInfo.environment["USER"] ?? "root"
  let squeue = SlurmQueries.squeue(user: user)
  let sinfo = SlurmQueries.sinfoNodes()
  _ = timed([sluice, "tick", "--quiet"], cwd: dir)  // warm the facts cache
  var tick: [Double] = []
  var bare: [Double] = []
  var out = ""
  // 31 interleaved pairs: on this 2-core VM one sample swings by +-20%.
  for _ in 0..<31 {
    let t = timed([sluice, "tick", "--quiet"], cwd: dir)
    out = t.stdout
    tick.append(t.seconds)
    let a = timed(squeue)
    let b = timed(sinfo)
    bare.append(a.seconds + b.seconds)
  }
  let j = timed([sluice, "tick", "--json"], cwd: dir).stdout
  let state = try Store(dir: dir + "/.sluice").loadActive()
  emit([
    "bench": "tick", "in_flight": state.runs.filter(\.state.isInFlight).count, "archived": 100_000,
    "tick_median_s": median(tick), "squeue_plus_sinfo_median_s": median(bare), "samples": tick.count,
    "ratio": median(tick) / median(bare),
    "quiet_output_bytes": out.utf8.count,
    "tick_json_calls": (try? JSONSerialization.jsonObject(with: Data(j.utf8)) as? [String: Any])?[
      "slurm_calls"] ?? [:],
  ])
  try? FileManager.default.removeItem(atPath: dir)
}

/// Slurm calls per tick for 10 and for 1,000 tracked runs, counted by wrappers on bin_dir.
func callsBench() throws {
  var results: [String: Any] = ["bench": "calls"]
  for n in [10, 1000] {
    let dir = tempDir("calls\(n)")
    let bin = dir + "/bin"
    let log = dir + "/calls.log"
    try Files.makeDirectory(bin, mode: 0o755)
    let cli = SlurmCLI(runner: ProcessRunner(), environment: ProcessInfo.processInfo.environment, binDir: nil)
    for p in ["sbatch", "squeue", "sinfo", "sacct", "scontrol", "sacctmgr", "scancel"] {
      try Files.writeAtomically(
        bin + "/" + p, text: "#!/bin/sh\necho \(p) >> '\(log)'\nexec \(cli.locate(p)!) \"$@\"\n", mode: 0o755)
    }
    // n-1 runs held in one array (in squeue) plus one that already finished (only in sacct),
    // and 5 queued runs of a grid to submit.
    let held = Int(
      sh([
        "sbatch", "--parsable", "--hold", "--array=0-\(n - 2)", "-J", "bench.sl1111111111", "-o", "/dev/null",
        "--wrap", "true",
      ]))!
    let done = Int(
      sh(["sbatch", "--parsable", "--wait", "-J", "bench.sl2222222222", "-o", "/dev/null", "--wrap", "true"]))!
    _ = try makeStore(dir, active: n - 1, archived: 0, arrayJob: held)
    let store = Store(dir: dir + "/.sluice")
    var s = try store.loadActive()
    var fin = run(99_999, sweep: "live", state: .pending)
    fin.jobID = String(done)
    fin.submitted = now
    s.runs.append(fin)
    try store.save(&s)
    write(dir + "/tasks.md", "## P\n- [ ] Five\n  - run: `true {i}`\n  - grid: i = 1, 2, 3, 4, 5\n")
    write(
      dir + "/sluice.toml",
      "[slurm]\nbackend = \"slurm\"\nbin_dir = \"\(bin)\"\n[limits]\nmax_concurrent = 5000\n")
    _ = timed([sluice, "plan"], cwd: dir)  // fills the hourly facts cache (scontrol/sacctmgr)
    try? FileManager.default.removeItem(atPath: log)
    let t = timed([sluice, "tick"], cwd: dir)
    var counts: [String: Int] = [:]
    for line in ((try? Files.readText(log)) ?? "").split(separator: "\n") {
      counts[String(line), default: 0] += 1
    }
    results["tracked_\(n)"] = counts
    results["tick_s_\(n)"] = t.seconds
    let after = try store.loadActive()
    results["submitted_\(n)"] = after.runs.filter { $0.sweep == "p1-five" && $0.state == .pending }.count
    results["finished_seen_\(n)"] =
      (try store.allSummaries(active: after)).first { $0.id == fin.id }?.state.rawValue ?? "?"
    let ids = after.runs.compactMap(\.arrayJobID).map(String.init)
    _ = sh(["scancel", String(held)] + Array(Set(ids)))
    try? FileManager.default.removeItem(atPath: dir)
  }
  emit(results)
}

/// A 1,000-run grid through one tick, against 1,000 plain sbatch calls and one
/// hand-written `sbatch --array=0-999`, in the same run. The tick is timed 9
/// times, each on a fresh project (the grid goes out once per project). And what
/// any tick adds to the sbatch it makes: a tick that submits one run, against one
/// plain `sbatch` of one job.
func submitBench() throws {
  let values = (0..<1000).map(String.init).joined(separator: ", ")
  // As for a command minutes after the last one: nothing of its set-up still
  // waiting to be written (the flush that puts an intent on disk would write it too).
  func settle() {
    sync()
    usleep(500_000)
  }
  func fresh(_ k: Int, grid: Bool = true) -> String {
    let dir = tempDir("submit\(k)")
    write(
      dir + "/tasks.md",
      grid
        ? "## P\n- [ ] Grid\n  - run: `true {i}`\n  - grid: i = \(values)\n  - time: 5\n"
        : "## P\n- [ ] One\n  - run: `true`\n  - time: 5\n")
    write(dir + "/sluice.toml", "[slurm]\nbackend = \"slurm\"\n[limits]\nmax_concurrent = 1000\n")
    write(dir + "/job.sh", "#!/bin/bash\n#SBATCH --time=5\n#SBATCH --output=/dev/null\ntrue\n")
    _ = timed([sluice, "plan"], cwd: dir)  // facts cache, as a cron tick would have it
    settle()
    return dir
  }
  let dir = fresh(0)
  // Each sample's jobs are cancelled, and the cluster left 3 s to settle: cancelling
  // 1,000 tasks has slurmctld write them to slurmdbd (MariaDB, with its fsyncs) for a
  // while, and the next sample, tick or hand-written array alike, waited behind it.
  func cancelAll(_ ids: [String]) {
    if !ids.isEmpty { _ = sh(["scancel"] + ids) }
    usleep(3_000_000)
  }
  // One hand-written array.
  var arrayT: [Double] = []
  for _ in 0..<5 {
    let t = timed(["sbatch", "--parsable", "--array=0-999", dir + "/job.sh"])
    arrayT.append(t.seconds)
    cancelAll([t.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
  }
  // The least a tick can do (see Floor.swift), with the files the tick `d` wrote:
  // its script, run table, intent, receipt and events segment.
  func floor(_ d: String) -> Double? {
    func one(_ sub: String, _ suffix: String) -> String? {
      (try? FileManager.default.contentsOfDirectory(atPath: d + "/.sluice/" + sub))?
        .first { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }.map { d + "/.sluice/" + sub + "/" + $0 }
    }
    guard let script = one("scripts", ".sh"), let table = one("scripts", ".runs"),
      let intent = one("intents", ".json"), let receipt = one("receipts", ".json"),
      let events = one("events", ".jsonl")
    else { return nil }
    let out = tempDir("floor")
    let floorBinary = Path.dirname(CommandLine.arguments[0]) + "/sluice-floor"
    // Started once first (it prints its usage), as `fresh` starts sluice before a
    // tick: the kernel here drops the page cache of a binary left idle for seconds,
    // and a cold 29 MB binary faulted its pages back in from disk (2-5 major faults;
    // 8.3 ms cold against 7.5 warm in one run) where the tick's, started 0.5 s
    // before, faulted none.
    _ = timed([floorBinary])
    settle()
    let t = timed([floorBinary, script, table, intent, receipt, events, out])
    cancelAll([t.stdout.trimmingCharacters(in: .whitespacesAndNewlines)].filter { !$0.isEmpty })
    try? FileManager.default.removeItem(atPath: out)
    return t.exit == 0 ? t.seconds : nil
  }
  // The tick, interleaved with the hand-written array: `sluice tick` as cron runs
  // it (a one-line summary), and `sluice tick --json` as an agent does (a 92 KB
  // report listing every run it submitted), each on a fresh project.
  var tickT: [Double] = []
  var jsonT: [Double] = []
  var floorT: [Double] = []
  var j: [String: Any] = [:]
  var submitted = Int.max
  for k in 1...9 {
    for json in [false, true] {
      let d = fresh(json ? 200 + k : k)
      let t = timed([sluice, "tick"] + (json ? ["--json"] : []), cwd: d)
      let state = try Store(dir: d + "/.sluice").loadActive()
      if json {
        jsonT.append(t.seconds)
        j = (try? JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any]) ?? [:]
      } else {
        tickT.append(t.seconds)
        submitted = min(submitted, state.runs.count { $0.jobID != nil })  // the fewest any tick got out
      }
      cancelAll(Array(Set(state.runs.compactMap(\.arrayJobID).map(String.init))))
      if !json, let f = floor(d) { floorT.append(f) }
      try? FileManager.default.removeItem(atPath: d)
    }
    let a = timed(["sbatch", "--parsable", "--array=0-999", dir + "/job.sh"])
    arrayT.append(a.seconds)
    cancelAll([a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
  }
  let tick = median(tickT)
  // One run through a tick, against one plain sbatch, interleaved.
  var oneTickT: [Double] = []
  var oneT: [Double] = []
  for k in 1...9 {
    let d = fresh(100 + k, grid: false)
    oneTickT.append(timed([sluice, "tick"], cwd: d).seconds)
    let state = try Store(dir: d + "/.sluice").loadActive()
    cancelAll(state.runs.compactMap(\.jobID))
    let a = timed(["sbatch", "--parsable", dir + "/job.sh"])
    oneT.append(a.seconds)
    cancelAll([a.stdout.trimmingCharacters(in: .whitespacesAndNewlines)])
    try? FileManager.default.removeItem(atPath: d)
  }
  // 1,000 plain sbatch calls.
  let loopStart = Date()
  var loopIDs: [String] = []
  for _ in 0..<1000 {
    loopIDs.append(
      timed(["sbatch", "--parsable", dir + "/job.sh"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
  }
  let loop = Date().timeIntervalSince(loopStart)
  cancelAll(loopIDs)
  emit([
    "bench": "submit", "runs": 1000, "tick_s": tick, "tick_samples": tickT.count, "tick_submitted": submitted,
    "sbatch_calls_in_tick": (j["slurm_calls"] as? [String: Int])?["sbatch"] ?? -1,
    "array_median_s": median(arrayT), "loop_s": loop, "tick_vs_array": tick / median(arrayT),
    "json_tick_s": median(jsonT), "json_tick_vs_array": median(jsonT) / median(arrayT),
    "json_tick_samples_all_s": jsonT.sorted(),
    "floor_s": floorT.isEmpty ? -1 : median(floorT),
    "floor_vs_array": floorT.isEmpty ? -1 : median(floorT) / median(arrayT),
    "floor_samples_all_s": floorT.sorted(),
    "loop_vs_tick": loop / tick, "tick_samples_all_s": tickT.sorted(), "array_samples_all_s": arrayT.sorted(),
    "one_run_tick_s": median(oneTickT), "one_sbatch_s": median(oneT),
    "one_run_tick_samples_all_s": oneTickT.sorted(), "one_sbatch_samples_all_s": oneT.sorted(),
    "one_run_tick_vs_sbatch": median(oneTickT) / median(oneT),
  ])
  try? FileManager.default.removeItem(atPath: dir)
}

let which = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "store"
do {
  switch which {
  case "store": try storeBench()
  case "tick": try tickBench()
  case "calls": try callsBench()
  case "submit": try submitBench()
  case "report":
    // sluice-bench report RESULTS.jsonl: the markdown table bench/run.sh writes.
    let lines = try Files.readText(CommandLine.arguments[2]).split(separator: "\n")
    var by: [String: [String: Any]] = [:]
    for l in lines {
      if let o = try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any],
        let b = o["bench"] as? String
      {
        by[b] = o
      }
    }
    func f(_ v: Any?, _ digits: Int = 3) -> String {
      guard let d = (v as? Double) ?? (v as? Int).map(Double.init) else { return "?" }
      return String(format: "%.\(digits)f", d)
    }
    func calls(_ v: Any?) -> String {
      guard let d = v as? [String: Any] else { return "?" }
      return d.keys.sorted().map { "\($0) \(d[$0]!)" }.joined(separator: ", ")
    }
    // On a noisy machine noise only adds time: the fastest of each side, beside the medians.
    func fastest(_ a: Any?, _ b: Any?) -> String {
      guard let x = (a as? [Double])?.min(), let y = (b as? [Double])?.min(), y > 0 else { return "" }
      return "; fastest \(f(x)) s vs \(f(y)) s, \(f(x / y, 2))×"
    }
    var md = "| benchmark | measured | goal |\n| --- | --- | --- |\n"
    if let s = by["store"] {
      md +=
        "| load for a tick, 1,000 active + 100,000 archived vs + 1,000 archived | \(f(s["load_for_tick_big_s"], 4)) s vs \(f(s["load_for_tick_small_s"], 4)) s (ratio \(f(s["load_ratio"], 2))) | within 20% |\n"
      md +=
        "| `sluice runs --json` over \(s["runs_listed"] ?? "?") runs | \(f(s["runs_json_s"], 2)) s, \(f(s["runs_json_max_rss_mb"], 0)) MB peak | < 1 s, < 100 MB |\n"
      md += "| `sluice runs` (table) over the same | \(f(s["runs_table_s"], 2)) s | < 1 s |\n"
    }
    if let t = by["tick"] {
      md +=
        "| tick that submits nothing, \(t["in_flight"] ?? "?") in flight + 100,000 archived, vs bare `squeue` + `sinfo` (medians of \(t["samples"] ?? 15) interleaved pairs) | \(f(t["tick_median_s"])) s vs \(f(t["squeue_plus_sinfo_median_s"])) s (ratio \(f(t["ratio"], 2))) | ≤ 1.3× |\n"
      md += "| Slurm calls made by that tick | \(calls(t["tick_json_calls"])) | one each |\n"
    }
    if let c = by["calls"] {
      md += "| Slurm calls per tick, 10 tracked runs | \(calls(c["tracked_10"])) | constant |\n"
      md += "| Slurm calls per tick, 1,000 tracked runs | \(calls(c["tracked_1000"])) | constant |\n"
    }
    if let u = by["submit"] {
      md +=
        "| 1,000-run grid through one `sluice tick`, as cron runs it (median of \(u["tick_samples"] ?? 1) fresh projects) | \(f(u["tick_s"])) s, \(u["tick_submitted"] ?? "?") runs, \(u["sbatch_calls_in_tick"] ?? "?") sbatch call(s) | ≤ 1.5× one array |\n"
      md +=
        "| one hand-written `sbatch --array=0-999` | \(f(u["array_median_s"])) s (tick / array = \(f(u["tick_vs_array"], 2))×\(fastest(u["tick_samples_all_s"], u["array_samples_all_s"]))) | |\n"
      if u["json_tick_s"] != nil {
        md +=
          "| the same tick as `sluice tick --json` (its report lists all 1,000 runs) | \(f(u["json_tick_s"])) s (/ array = \(f(u["json_tick_vs_array"], 2))×\(fastest(u["json_tick_samples_all_s"], u["array_samples_all_s"]))) | |\n"
      }
      if let fl = u["floor_s"] as? Double, fl > 0 {
        md +=
          "| the least a tick can do: a process that starts sbatch first and writes the tick's own run table, intent (fsynced with its folder), receipt and events, with no config, tasks file, plan or rendering (median of \((u["floor_samples_all_s"] as? [Double])?.count ?? 0)) | \(f(fl)) s (/ array = \(f(u["floor_vs_array"], 2))×\(fastest(u["floor_samples_all_s"], u["array_samples_all_s"]))) | |\n"
      }
      md +=
        "| 1,000 plain `sbatch` calls | \(f(u["loop_s"], 2)) s (loop / tick = \(f(u["loop_vs_tick"], 0))×) | tick ≥ 20× faster |\n"
      if u["one_run_tick_s"] != nil {
        md +=
          "| what any tick adds: a tick submitting one run vs one plain `sbatch` (medians of 9) | \(f(u["one_run_tick_s"])) s vs \(f(u["one_sbatch_s"])) s (ratio \(f(u["one_run_tick_vs_sbatch"], 2))\(fastest(u["one_run_tick_samples_all_s"], u["one_sbatch_samples_all_s"]))) | |\n"
      }
    }
    print(md, terminator: "")
  case "measure":
    // sluice-bench measure DIR PROGRAM ARGS...: wall time and peak memory of one run.
    let a = CommandLine.arguments
    let r = timed(Array(a[3...]), cwd: a[2])
    emit([
      "seconds": r.seconds, "max_rss_kb": r.maxRSSKB,
      "ids": r.stdout.components(separatedBy: "\"id\" :").count - 1,
    ])
  case "parse":
    // sluice-bench parse FILE: time SqueueParser over a captured squeue output.
    let text = try Files.readText(CommandLine.arguments[2])
    var t: [Double] = []
    var n = 0
    for _ in 0..<20 {
      let a = Date()
      n = SqueueParser.parse(text).items.count
      t.append(Date().timeIntervalSince(a))
    }
    emit(["jobs": n, "parse_min_s": t.min() ?? 0])
  case "codec":
    // sluice-bench codec DIR: time decoding and encoding DIR/.sluice/active.json in-process.
    let path = CommandLine.arguments[2] + "/.sluice/active.json"
    let data = try Files.read(path)
    var dec: [Double] = []
    var enc: [Double] = []
    var state = ActiveState()
    for _ in 0..<20 {
      let a = Date()
      state = try Store(dir: CommandLine.arguments[2] + "/.sluice").loadActive()
      dec.append(Date().timeIntervalSince(a))
      let scratch = Store(dir: NSTemporaryDirectory() + "/sluice-codec-bench")
      let b = Date()
      try scratch.save(&state, durability: .ordered)
      enc.append(Date().timeIntervalSince(b))
    }
    emit([
      "runs": state.runs.count, "bytes": data.count, "decode_min_s": dec.min() ?? 0,
      "save_ordered_min_s": enc.min() ?? 0,
    ])
  case "mkstore":
    // sluice-bench mkstore DIR [ARRAY_JOB]: a project with 1,000 active and 100,000 archived runs,
    // for profiling; with ARRAY_JOB the active runs are that array's tasks.
    let a = CommandLine.arguments
    let d = a[2]
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    _ = try makeStore(d, active: 1000, archived: 100_000, arrayJob: a.count > 3 ? Int(a[3]) : nil)
    write(d + "/tasks.md", "## P\n- [ ] live\n")
  default:
    FileHandle.standardError.write(
      Data("usage: sluice-bench store|tick|calls|submit [path-to-sluice]\n".utf8))
    exit(2)
  }
} catch {
  FileHandle.standardError.write(Data("sluice-bench: \(error)\n".utf8))
  exit(1)
}
