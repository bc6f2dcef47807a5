import XCTest

@testable import SluiceCore

final class SbatchOptionsTests: XCTestCase {
  func parse(_ args: [String]) throws -> SbatchCommandLine { try SbatchOptions.parseCommandLine(args) }

  func names(_ l: SbatchCommandLine) -> [String] { l.options.map(\.name) }

  // MARK: table

  func testTableHasNoDuplicates() {
    let longs = SbatchOptions.table.map(\.long)
    XCTAssertEqual(Set(longs).count, longs.count)
    let shorts = SbatchOptions.table.compactMap(\.short)
    XCTAssertEqual(Set(shorts).count, shorts.count)
    XCTAssertEqual(SbatchOptions.table.count, 106)
  }

  func testAbbreviationsResolveLikeGetopt() {
    XCTAssertEqual(SbatchOptions.longOption("part")?.long, "partition")
    XCTAssertEqual(SbatchOptions.longOption("mem")?.long, "mem")
    XCTAssertNil(SbatchOptions.longOption("me"))
    XCTAssertNil(SbatchOptions.longOption("clu"))
    XCTAssertEqual(SbatchOptions.longOption("tasks")?.long, "tasks-per-node")
    XCTAssertEqual(SbatchOptions.longOption("wr")?.long, "wrap")
    XCTAssertNil(SbatchOptions.longOption("sweep"))
    XCTAssertNil(SbatchOptions.longOption(""))
  }

  // MARK: command line

  func testLongFormsWithAndWithoutEquals() throws {
    let l = try parse(["--partition=gpu", "--time", "10", "--job-name", "-x", "job.sh", "a"])
    XCTAssertEqual(l.options, [.init("partition", "gpu"), .init("time", "10"), .init("job-name", "-x")])
    XCTAssertEqual(l.script, "job.sh")
    XCTAssertEqual(l.scriptArgs, ["a"])
  }

  func testShortFormsAttachedSeparateAndClustered() throws {
    let l = try parse(["-pgpu", "-N", "2", "-n4", "-c", "2", "-t", "10", "-HQ", "-Hvpcpu", "-G", "2", "x.sh"])
    XCTAssertEqual(
      l.options,
      [
        .init("partition", "gpu"), .init("nodes", "2"), .init("ntasks", "4"), .init("cpus-per-task", "2"),
        .init("time", "10"), .init("hold"), .init("quiet"), .init("hold"), .init("verbose"),
        .init("partition", "cpu"), .init("gpus", "2"),
      ])
    XCTAssertEqual(l.script, "x.sh")
  }

  func testEveryShortOptionFromTheTable() throws {
    let l = try parse([
      "-a", "0-3", "-A", "acct", "-J", "n", "-o", "o", "-e", "e", "-q", "q", "-C", "f", "-d", "afterok:1",
      "-W", "-s", "-h",
      "-V", "-kfoo", "-k", "x.sh",
    ])
    XCTAssertEqual(
      names(l),
      [
        "array", "account", "job-name", "output", "error", "qos", "constraint", "dependency", "wait",
        "oversubscribe", "help", "version", "no-kill", "no-kill",
      ])
    XCTAssertEqual(l.options[12].value, "foo")
    XCTAssertNil(l.options[13].value)
    XCTAssertEqual(l.script, "x.sh")
  }

  func testOptionalValuesOnlyAttach() throws {
    let l = try parse(["--nice", "job.sh", "--exclusive=user"])
    XCTAssertEqual(l.options, [.init("nice")])
    XCTAssertEqual(l.script, "job.sh")
    XCTAssertEqual(l.scriptArgs, ["--exclusive=user"])
    let m = try parse(["--nice=5", "--exclusive", "--propagate=STACK", "job.sh"])
    XCTAssertEqual(m.options, [.init("nice", "5"), .init("exclusive"), .init("propagate", "STACK")])
  }

  func testScriptArgsAreUntouched() throws {
    let l = try parse(["-p", "gpu", "job.sh", "-p", "cpu", "--sweep", "x", "--", "-J"])
    XCTAssertEqual(l.options, [.init("partition", "gpu")])
    XCTAssertEqual(l.script, "job.sh")
    XCTAssertEqual(l.scriptArgs, ["-p", "cpu", "--sweep", "x", "--", "-J"])
    XCTAssertNil(l.sweep)
  }

  func testDoubleDashEndsOptions() throws {
    let l = try parse(["-H", "--", "-weird.sh", "a"])
    XCTAssertEqual(l.options, [.init("hold")])
    XCTAssertEqual(l.optionArgs, ["-H", "--"])
    XCTAssertEqual(l.script, "-weird.sh")
    XCTAssertEqual(l.argv(adding: ["--parsable"]), ["--parsable", "-H", "--", "-weird.sh", "a"])
  }

  func testSweepIsTakenOut() throws {
    let l = try parse(["--sweep", "probes", "-p", "gpu", "--sweep=other", "job.sh"])
    XCTAssertEqual(l.sweep, "other")
    XCTAssertEqual(l.optionArgs, ["-p", "gpu"])
    let m = try parse(["-J", "--sweep", "job.sh"])
    XCTAssertNil(m.sweep, "--sweep is -J's value here")
    XCTAssertEqual(m.options, [.init("job-name", "--sweep")])
    XCTAssertThrowsError(try parse(["--sweep"]))
    XCTAssertThrowsError(try parse(["--sweep", "bad name", "job.sh"]))
  }

  func testUnknownOptionsPassThrough() throws {
    let l = try parse(["--frobnicate=3", "-r", "--me=1", "job.sh"])
    XCTAssertEqual(l.options.map(\.known), [false, false, false])
    XCTAssertEqual(l.script, "job.sh")
    XCTAssertEqual(l.optionArgs, ["--frobnicate=3", "-r", "--me=1"])
  }

  func testWrapHelpAndNoScript() throws {
    let w = try parse(["--wrap", "echo hi", "-p", "gpu"])
    XCTAssertEqual(w.last("wrap"), "echo hi")
    XCTAssertNil(w.script)
    XCTAssertTrue(try parse(["-p", "x", "--usage"]).asksForInformation)
    XCTAssertTrue(try parse(["-V"]).asksForInformation)
    XCTAssertFalse(try parse(["job.sh", "--help"]).asksForInformation)
    XCTAssertNil(try parse(["-p", "gpu"]).script)
  }

  func testHeterogeneousComponents() throws {
    let l = try parse(["-p", "gpu", ":", "-p", "cpu", "-N", "2", "job.sh"])
    XCTAssertEqual(l.options.map(\.component), [0, 1, 1])
    XCTAssertEqual(l.optionArgs, ["-p", "gpu", ":", "-p", "cpu", "-N", "2"])
    XCTAssertEqual(l.script, "job.sh")
  }

  // MARK: #SBATCH

  func testDirectiveWords() {
    XCTAssertEqual(
      SbatchOptions.directiveWords(" -J 'my job' --comment=\"a b\" # note"),
      ["-J", "my job", "--comment=a b"])
    XCTAssertEqual(
      SbatchOptions.directiveWords(" --output=a\\ b.out\t-t 5"), ["--output=a b.out", "-t", "5"])
    XCTAssertEqual(SbatchOptions.directiveWords(" --x=#1"), ["--x="])
    XCTAssertEqual(SbatchOptions.directiveWords("   "), [])
  }

  func testDirectivesStopAtFirstCommand() {
    let script = """
      #!/bin/bash
      # a comment
      #SBATCH -p gpu
        #SBATCH -t 5
      #SBATCH --gres=gpu:2 --job-name=train

      #sbatch -A nope
      #SBATCH --mem 4G
      echo start
      #SBATCH -N 3
      """
    let d = SbatchOptions.directives(inScript: script)
    XCTAssertEqual(
      d, [.init("partition", "gpu"), .init("gres", "gpu:2"), .init("job-name", "train"), .init("mem", "4G")])
    // Saved with Windows line ends (sbatch refuses such a script, but what it asked
    // for is still read, not lost in one long line).
    XCTAssertEqual(SbatchOptions.directives(inScript: script.replacingOccurrences(of: "\n", with: "\r\n")), d)
  }

  func testDirectivesHetjobAndJunk() {
    let d = SbatchOptions.directives(
      inScript: "#!/bin/sh\n#SBATCH -p a\n#SBATCH hetjob\n#SBATCH -p b oops -t 3\n")
    XCTAssertEqual(d, [.init("partition", "a"), .init("partition", "b", component: 1)])
  }

  func testEnvironmentVariables() {
    let e = SbatchOptions.environmentDirectives([
      "SBATCH_PARTITION": "gpu", "SBATCH_TIMELIMIT": "7", "SBATCH_WAIT": "0", "SBATCH_JOB_NAME": "n",
      "HOME": "/x",
    ])
    XCTAssertEqual(Set(e.map(\.name)), ["partition", "time", "job-name"])
    XCTAssertEqual(SbatchOptions.environmentDirectives(["SBATCH_WAIT": "yes"]), [.init("wait")])
    XCTAssertEqual(SbatchOptions.environmentDirectives(["SBATCH_WAIT": ""]), [.init("wait")])
  }

  // MARK: settings and resources

  func testPrecedenceCommandLineOverEnvironmentOverScript() {
    let s = SbatchSettings(
      script: [.init("partition", "a"), .init("time", "1"), .init("qos", "q1")],
      environment: [.init("partition", "b"), .init("time", "2")],
      commandLine: [.init("partition", "c"), .init("partition", "d")])
    XCTAssertEqual(s.value("partition"), "d")
    XCTAssertEqual(s.value("time"), "2")
    XCTAssertEqual(s.value("qos"), "q1")
    XCTAssertFalse(s.has("account"))
  }

  func testResources() {
    let s = SbatchSettings(
      script: [.init("gres", "gpu:a100:4"), .init("mem", "8G")],
      commandLine: [
        .init("partition", "gpu"), .init("account", "lab"), .init("qos", "high"), .init("time", "1:00:00"),
        .init("cpus-per-task", "3"), .init("nodes", "2-4"), .init("ntasks", "8"), .init("constraint", "a100"),
      ])
    let r = SbatchOptions.resources(s)
    XCTAssertEqual(
      r,
      Resources(
        gpus: 4, cpus: 3, mem: "8G", time: "1:00:00", partition: "gpu", account: "lab", qos: "high",
        constraint: "a100",
        nodes: 2, ntasks: 8))
  }

  func testGPUForms() {
    func gpus(_ o: [SbatchOccurrence], script: [SbatchOccurrence] = []) -> Int? {
      SbatchOptions.resources(SbatchSettings(script: script, commandLine: o)).gpus
    }
    XCTAssertEqual(gpus([.init("gres", "gpu:1")]), 1)
    XCTAssertEqual(gpus([.init("gres", "gpu")]), 1)
    XCTAssertEqual(gpus([.init("gres", "gpu:tesla:2,mps:100")]), 2)
    XCTAssertEqual(gpus([.init("gpus", "2")]), 2)
    XCTAssertEqual(gpus([.init("gpus", "a100:3")]), 3)
    XCTAssertEqual(gpus([.init("gpus", "4"), .init("nodes", "2")]), 2)
    XCTAssertEqual(gpus([.init("gpus-per-node", "v100:2")]), 2)
    XCTAssertEqual(gpus([.init("gpus-per-task", "1"), .init("ntasks", "3")]), 3)
    XCTAssertEqual(gpus([.init("gpus", "1")], script: [.init("gres", "gpu:4")]), 1, "the command line wins")
    XCTAssertNil(gpus([.init("partition", "gpu")]))
  }

  // MARK: arrays

  func testArrayIndices() {
    XCTAssertEqual(SbatchOptions.arrayIndices("0-9"), Array(0...9))
    XCTAssertEqual(SbatchOptions.arrayIndices("1,3,5"), [1, 3, 5])
    XCTAssertEqual(SbatchOptions.arrayIndices("0-9%2"), Array(0...9))
    XCTAssertEqual(SbatchOptions.arrayIndices("5,1-2,2"), [1, 2, 5])
    XCTAssertEqual(SbatchOptions.arrayIndices("0-15:4"), [0, 4, 8, 12])
    XCTAssertEqual(SbatchOptions.arrayIndices("7"), [7])
    XCTAssertNil(SbatchOptions.arrayIndices("0-999999"))
    XCTAssertNil(SbatchOptions.arrayIndices("a-b"))
    XCTAssertNil(SbatchOptions.arrayIndices("3-1"))
    XCTAssertNil(SbatchOptions.arrayIndices("1,,2"))
    XCTAssertNil(SbatchOptions.arrayIndices("0-9%"))
    XCTAssertNil(SbatchOptions.arrayIndices("4:2"))
    XCTAssertNil(SbatchOptions.arrayIndices(""))
  }

  // MARK: patterns

  func testResolvePattern() {
    func p(_ s: String, index: Int? = nil) -> String {
      SbatchOptions.resolvePattern(
        s, jobID: 42, arrayIndex: index, jobName: "train", user: "ann", workdir: "/w")
    }
    XCTAssertEqual(p("slurm-%j.out"), "/w/slurm-42.out")
    XCTAssertEqual(p("/logs/%x-%u-%5j-%%.out"), "/logs/train-ann-00042-%.out")
    XCTAssertEqual(p("o-%A_%a.out", index: 3), "/w/o-42_3.out")
    XCTAssertEqual(p("o-%A_%3a.out", index: 3), "/w/o-42_003.out")
    XCTAssertEqual(p("o-%j.out", index: 3), "/w/o-%j.out", "an array task's own id is not known yet")
    XCTAssertEqual(p("o-%a.out"), "/w/o-4294967294.out")
    XCTAssertEqual(p("o-%N-%t.out"), "/w/o-%N-%t.out")
    XCTAssertEqual(p("o\\-%j.out"), "/w/o-%j.out")
    XCTAssertEqual(p("ends%"), "/w/ends%")
  }

  // MARK: plan

  func plan(
    _ args: [String], script: String? = "#!/bin/sh\necho hi\n", env: [String: String] = [:]
  ) throws -> SbatchPlan {
    SbatchOptions.plan(
      try parse(args), scriptText: script, environment: env, cwd: "/home/u/p", tag: "sl0123456789")
  }

  func testPlanAddsParsableAndTag() throws {
    let p = try plan(["-p", "gpu", "sub/job.sh", "1"])
    XCTAssertEqual(p.argv, ["--parsable", "--job-name=job.sh.sl0123456789", "-p", "gpu", "sub/job.sh", "1"])
    XCTAssertEqual(p.tag, "sl0123456789")
    XCTAssertEqual(p.jobName, "job.sh.sl0123456789")
    XCTAssertEqual(SlurmBackend.tag(ofJobName: p.jobName), "sl0123456789")
    XCTAssertEqual(p.runName, "job.sh")
    XCTAssertEqual(p.command, "sub/job.sh 1")
    XCTAssertEqual(p.source, .file("sub/job.sh"))
    XCTAssertFalse(p.passThrough)
  }

  func testPlanLeavesAGivenNameAlone() throws {
    for (args, script, env) in [
      (["-J", "mine", "job.sh"], "#!/bin/sh\n", [String: String]()),
      (["job.sh"], "#!/bin/sh\n#SBATCH --job-name=mine\n", [:]),
      (["job.sh"], "#!/bin/sh\n", ["SBATCH_JOB_NAME": "mine"]),
    ] {
      let p = try plan(args, script: script, env: env)
      XCTAssertNil(p.tag)
      XCTAssertEqual(p.jobName, "mine")
      XCTAssertEqual(p.runName, "mine")
      XCTAssertEqual(p.argv.first, "--parsable")
      XCTAssertFalse(p.argv.contains { $0.hasPrefix("--job-name=") })
    }
  }

  func testPlanNoTagWhenTheJobCanSeeItsName() throws {
    XCTAssertNil(try plan(["-o", "%x-%j.out", "job.sh"]).tag)
    XCTAssertNil(try plan(["job.sh"], script: "#!/bin/sh\n#SBATCH -e log-%3x\n").tag)
    XCTAssertNil(try plan(["job.sh"], script: "#!/bin/sh\necho $SLURM_JOB_NAME\n").tag)
    XCTAssertNil(try plan(["--wrap", "echo $SLURM_JOB_NAME"]).tag)
    XCTAssertNotNil(try plan(["-o", "%j.out", "job.sh"]).tag)
  }

  func testPlanUserParsable() throws {
    XCTAssertEqual(
      try plan(["--parsable", "job.sh"]).argv, ["--job-name=job.sh.sl0123456789", "--parsable", "job.sh"])
    let p = try plan(["job.sh"], script: "#!/bin/sh\n#SBATCH --parsable\n")
    XCTAssertTrue(p.userParsable)
    XCTAssertFalse(p.argv.contains("--parsable"))
  }

  func testPlanPassThrough() throws {
    XCTAssertEqual(try plan(["--sweep", "s", "--help"]).argv, ["--help"])
    XCTAssertTrue(try plan(["--version"]).passThrough)
    let t = try plan(["--test-only", "job.sh"])
    XCTAssertTrue(t.passThrough)
    XCTAssertEqual(t.argv, ["--test-only", "job.sh"])
    XCTAssertTrue(try plan(["job.sh"], script: "#!/bin/sh\n#SBATCH --test-only\n").passThrough)
  }

  func testPlanWrapAndStdin() throws {
    let w = try plan(["--wrap=python train.py --lr 1", "-p", "gpu"], script: nil)
    XCTAssertEqual(w.source, .wrap("python train.py --lr 1"))
    XCTAssertEqual(w.command, "python train.py --lr 1")
    XCTAssertEqual(w.jobName, "wrap.sl0123456789")
    let s = try plan(["-p", "gpu"], script: "#!/bin/sh\n#SBATCH -t 3\n")
    XCTAssertEqual(s.source, .stdin)
    XCTAssertEqual(s.command, "<stdin>")
    XCTAssertEqual(s.runName, "sbatch")
    XCTAssertEqual(s.resources.time, "3")
  }

  func testPlanOptionsWinOverScript() throws {
    let p = try plan(
      ["-p", "gpu", "-t", "9", "job.sh"], script: "#!/bin/sh\n#SBATCH -p cpu\n#SBATCH -t 5 -c 2\n")
    XCTAssertEqual(p.resources.partition, "gpu")
    XCTAssertEqual(p.resources.time, "9")
    XCTAssertEqual(p.resources.cpus, 2)
  }

  func testPlanQuietWaitChdirClusters() throws {
    let p = try plan(["-Q", "-W", "-D", "../run", "-M", "c1", "job.sh"])
    XCTAssertTrue(p.quiet)
    XCTAssertTrue(p.waits)
    XCTAssertEqual(p.workdir, "/home/u/run")
    XCTAssertEqual(p.submitDir, "/home/u/p")
    XCTAssertEqual(p.clusters, "c1")
    XCTAssertFalse(
      try plan(["job.sh"], script: "#!/bin/sh\n#SBATCH -Q\n").quiet, "sbatch ignores -Q in a script")
  }

  // MARK: runs

  func testRunsForAPlainJob() throws {
    let p = try plan(["--sweep", "s1", "-p", "gpu", "--gres=gpu:1", "-e", "err-%j.txt", "job.sh", "a b"])
    let runs = SbatchOptions.runs(p, jobID: 77, idPrefix: "job.sh-77", user: "u", now: "T")
    XCTAssertEqual(runs.count, 1)
    let r = runs[0]
    XCTAssertEqual(r.id, "job.sh-77")
    XCTAssertEqual(r.jobID, "77")
    XCTAssertNil(r.arrayJobID)
    XCTAssertEqual(r.state, .pending)
    XCTAssertEqual(r.source, "sbatch")
    XCTAssertEqual(r.sweep, "s1")
    XCTAssertEqual(r.submitted, "T")
    XCTAssertEqual(r.submission, "sl0123456789")
    XCTAssertEqual(r.command, "job.sh 'a b'")
    XCTAssertEqual(r.resources.gpus, 1)
    XCTAssertEqual(r.resources.partition, "gpu")
    XCTAssertEqual(r.stdoutPath, "/home/u/p/slurm-77.out")
    XCTAssertEqual(r.stderrPath, "/home/u/p/err-77.txt")
    XCTAssertEqual(r.scriptPath, "/home/u/p/job.sh")
    XCTAssertEqual(r.maxRetries, 0)
  }

  func testRunsForAnArray() throws {
    let p = try plan(["-a", "1,3%1", "-o", "logs/%x_%A_%a.out", "job.sh"])
    let runs = SbatchOptions.runs(p, jobID: 9, idPrefix: "job.sh-9", user: "u", now: "T")
    XCTAssertEqual(runs.map(\.id), ["job.sh-9_1", "job.sh-9_3"])
    XCTAssertEqual(runs.map(\.jobID), ["9_1", "9_3"])
    XCTAssertEqual(runs.map(\.arrayJobID), [9, 9])
    XCTAssertEqual(runs.map(\.arrayIndex), [1, 3])
    XCTAssertEqual(runs.map(\.name), ["job.sh[1]", "job.sh[3]"])
    XCTAssertEqual(runs[1].stdoutPath, "/home/u/p/logs/job.sh_9_3.out")
    XCTAssertEqual(runs[1].stderrPath, runs[1].stdoutPath)
    let d = SbatchOptions.runs(
      try plan(["-a", "0-1", "job.sh"]), jobID: 9, idPrefix: "j", user: "u", now: "T")
    XCTAssertEqual(d.map(\.stdoutPath), ["/home/u/p/slurm-9_0.out", "/home/u/p/slurm-9_1.out"])
  }

  func testRunsForANonPlainArray() throws {
    let p = try plan(["--array=0-999999", "job.sh"])
    let runs = SbatchOptions.runs(p, jobID: 5, idPrefix: "job.sh-5", user: "u", now: "T")
    XCTAssertEqual(runs.count, 1)
    XCTAssertEqual(runs[0].jobID, "5")
    XCTAssertEqual(runs[0].arrayJobID, 5)
    XCTAssertNil(runs[0].arrayIndex)
  }

  // MARK: output

  func testTranslate() {
    XCTAssertEqual(
      SbatchOptions.translate(stdout: "123\n", userParsable: false).text, "Submitted batch job 123\n")
    XCTAssertEqual(
      SbatchOptions.translate(stdout: "123;c1\n", userParsable: false).text,
      "Submitted batch job 123 on cluster c1\n")
    let u = SbatchOptions.translate(stdout: "123;c1\n", userParsable: true)
    XCTAssertEqual(u.text, "123;c1\n")
    XCTAssertEqual(u.submitted, SubmitResult(jobID: 123, cluster: "c1"))
    let none = SbatchOptions.translate(stdout: "", userParsable: false)
    XCTAssertEqual(none.text, "")
    XCTAssertNil(none.submitted)
    let odd = SbatchOptions.translate(stdout: "note\n55\n", userParsable: false)
    XCTAssertEqual(odd.text, "note\nSubmitted batch job 55\n")
    XCTAssertEqual(odd.submitted?.jobID, 55)
  }
}
