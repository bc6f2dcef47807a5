import XCTest

@testable import SluiceCore

final class ConfigTests: XCTestCase {
  func testExampleParsesAndAppliesEverySection() throws {
    var c = Config()
    try c.apply(try TOML.parse(Config.example, path: "sluice.toml"), path: "sluice.toml")
    XCTAssertEqual(c.defaults.time, "1:00:00")
    XCTAssertEqual(c.defaults.mem, "2G")
    XCTAssertEqual(c.retryStates, ["node_fail", "preempted"])
    let text = """
      tasks_file = "plan.md"   # comment
      [defaults]
      partition = 'gpu'
      gpus = 2
      array = false
      [limits]
      max_concurrent = 8
      max_pending = 3
      max_submit_per_tick = 10
      [slurm]
      gpu_flag = "gpus-per-node"
      clusters = "c1"
      bin_dir = "/opt/slurm/bin"
      backend = "local"
      [paths]
      logs = "out/logs"
      group_access = true
      [retry]
      states = [
        "node_fail", # multi-line arrays
        "timeout",
      ]
      max = 1
      """
    var d = Config()
    try d.apply(try TOML.parse(text, path: "s.toml"), path: "s.toml")
    XCTAssertEqual(d.tasksFile, "plan.md")
    XCTAssertEqual(d.defaults.partition, "gpu")
    XCTAssertEqual(d.defaults.gpus, 2)
    XCTAssertFalse(d.array)
    XCTAssertEqual([d.maxConcurrent, d.maxPending, d.maxSubmitPerTick], [8, 3, 10])
    XCTAssertEqual(d.gpuFlag, .gpusPerNode)
    XCTAssertEqual(d.clusters, "c1")
    XCTAssertEqual(d.binDir, "/opt/slurm/bin")
    XCTAssertEqual(d.backend, .local)
    XCTAssertEqual(d.logsDir, "out/logs")
    XCTAssertTrue(d.groupAccess)
    XCTAssertEqual(d.fileMode, 0o660)
    XCTAssertEqual(d.retryStates, ["node_fail", "timeout"])
    XCTAssertEqual(d.retryMax, 1)
  }

  /// A sluice.toml saved with Windows line ends reads as with Unix ones (a String
  /// splits by Character, and "\r\n" is one, so splitting on "\n" alone did not split
  /// it: the file read as one malformed line); errors keep their line numbers.
  func testCRLFLineEndsReadAsLF() throws {
    let unix = Config.example
    let windows = unix.replacingOccurrences(of: "\n", with: "\r\n")
    XCTAssertNotEqual(unix, windows)
    XCTAssertEqual(try TOML.parse(windows, path: "s.toml"), try TOML.parse(unix, path: "s.toml"))
    XCTAssertEqual(
      try TOML.parse("\u{FEFF}" + windows, path: "s.toml"), try TOML.parse(unix, path: "s.toml"), "and a BOM")
    var c = Config()
    XCTAssertThrowsError(
      try c.apply(TOML.parse("[limits]\r\n\r\nmax_pending = \"3\"\r\n", path: "s.toml"), path: "s.toml")
    ) {
      XCTAssertEqual("\($0)", "s.toml:3:1: error: limits.max_pending must be a whole number, not a string")
    }
  }

  func testErrorsNameLineAndFix() {
    func err(_ s: String) -> String {
      do {
        var c = Config()
        try c.apply(try TOML.parse(s, path: "sluice.toml"), path: "sluice.toml")
        return ""
      } catch { return "\(error)" }
    }
    XCTAssertEqual(
      err("[defaults]\npartiton = \"gpu\"\n"),
      "sluice.toml:2:1: error: unknown key 'defaults.partiton'; did you mean 'partition'?")
    XCTAssertEqual(
      err("[limits]\nmax_pending = \"3\"\n"),
      "sluice.toml:2:1: error: limits.max_pending must be a whole number, not a string")
    XCTAssertTrue(
      err("[slurm]\ngpu_flag = \"cuda\"\n").contains("must be \"gres\", \"gpus\" or \"gpus-per-node\""))
    XCTAssertTrue(err("x = 1.5\n").hasPrefix("sluice.toml:1:1: error: x:"))
    XCTAssertTrue(err("[defaults\n").contains("malformed table header"))
    XCTAssertTrue(err("a = \"unterminated\n").contains("not closed"))
    XCTAssertTrue(err("[slurmm]\nbin_dir = \"/x\"\n").contains("did you mean [slurm]"))
    XCTAssertTrue(err("[defaults]\ntime = \"forever\"\n").contains("not a Slurm time limit"))
    XCTAssertTrue(err("k = 1\nk = 2\n").contains("set twice"))
  }

  func testUserConfigUnderProjectConfig() throws {
    let dir = makeTempDir(self)
    write(dir + "/user.toml", "[defaults]\naccount = \"mine\"\npartition = \"cpu\"\n")
    write(dir + "/proj.toml", "[defaults]\npartition = \"gpu\"\n")
    let c = try Config.load(projectFile: dir + "/proj.toml", userFile: dir + "/user.toml")
    XCTAssertEqual(c.defaults.account, "mine")
    XCTAssertEqual(c.defaults.partition, "gpu")
    XCTAssertEqual(c.sources, [dir + "/user.toml", dir + "/proj.toml"])
  }
}
