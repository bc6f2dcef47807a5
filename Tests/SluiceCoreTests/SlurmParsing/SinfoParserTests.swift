import XCTest

@testable import SluiceCore

final class SinfoParserTests: XCTestCase {
  private func node(_ r: SlurmParseResult<NodeInfo>, _ name: String, _ partition: String? = nil)
    throws -> NodeInfo
  {
    try XCTUnwrap(
      r.items.first { $0.name == name && (partition == nil || $0.partition == partition) },
      "\(name) \(partition ?? "")")
  }

  func testSluiceFormat() throws {
    let text = [
      usLine([
        "a0001", "gpu*", "mixed-", "8/24/0/32", "257000", "65536", "gpu:a100:4(S:0-1)", "gpu:a100:2(IDX:0-1)",
      ]),
      usLine(["c1", "cpu", "IDLE+DRAIN", "0/0/32/32", "15867", "0", "(null)", "(null)"]),
      usLine([
        "n9", "gpu", "idle", "0/32/0/32", "15867", "0", "gpu:a:2,gpu:b:2", "gpu:a:0(IDX:N/A),gpu:b:1(IDX:0)",
      ]),
      "",
    ].joined(separator: "\n")
    let r = SinfoParser.parseNodes(text)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 3)
    let a = try node(r, "a0001")
    XCTAssertEqual(a.partition, "gpu")
    XCTAssertTrue(a.isDefaultPartition)
    XCTAssertEqual(a.state.base, .mixed)
    XCTAssertEqual(a.state.suffixes, ["-"])
    XCTAssertTrue(a.state.usable)
    XCTAssertEqual([a.cpusAllocated, a.cpusIdle, a.cpusOther, a.cpusTotal], [8, 24, 0, 32])
    XCTAssertEqual(a.memoryMB, 257000)
    XCTAssertEqual(a.allocatedMemoryMB, 65536)
    XCTAssertEqual(a.gpusTotal, 4)
    XCTAssertEqual(a.gpusUsed, 2)
    let c = try node(r, "c1")
    XCTAssertFalse(c.isDefaultPartition)
    XCTAssertFalse(c.state.usable)
    XCTAssertEqual(c.gpusTotal, 0)
    let n = try node(r, "n9")
    XCTAssertEqual([n.gpusTotal, n.gpusUsed], [4, 1])
  }

  func testSkipsBadLinesAndBanners() {
    let text = [
      "CLUSTER: alpha",
      usLine(["a1", "p", "idle", "0/4/0/4", "100", "0", "(null)", "(null)"]),
      usLine(["a2", "p", "idle", "zero", "100", "0", "(null)", "(null)"]),
      usLine(["a3", "p", "idle"]),
      usLine(["", "p", "idle", "0/4/0/4", "100", "0", "(null)", "(null)"]),
      "   ",
    ].joined(separator: "\n")
    let r = SinfoParser.parseNodes(text)
    XCTAssertEqual(r.items.map(\.name), ["a1"])
    XCTAssertEqual(r.skipped.map(\.lineNumber), [3, 4, 5])
    XCTAssertTrue(r.skipped[0].reason.contains("CPUsState"), r.skipped[0].reason)
    XCTAssertTrue(r.skipped[1].reason.hasPrefix("expected 8 fields"), r.skipped[1].reason)
  }

  func testCPUsState() {
    XCTAssertEqual(
      SinfoParser.parseCPUsState("16/0/0/16"), CPUsState(allocated: 16, idle: 0, other: 0, total: 16))
    for bad in ["", "1/2/3", "1/2/3/4/5", "a/b/c/d", "1//3/4", "-1/0/0/1"] {
      XCTAssertNil(SinfoParser.parseCPUsState(bad), bad)
    }
  }

  /// `sinfo -h -o '%C'`: one A/I/O/T line for the whole cluster.
  func testSampleClusterCPUs() throws {
    let text = try Fixture.text("sinfo-o-C-cpus-aiot-unknown.txt")
    XCTAssertEqual(
      SinfoParser.parseCPUsState(text), CPUsState(allocated: 5725, idle: 877, other: 34, total: 6636))
  }

  /// `sinfo -aho '%F/%C'`: nodes A/I/O/T then CPUs A/I/O/T, 8 numbers.
  func testSampleNodesAndCPUs() throws {
    let text = SlurmText.trim(try Fixture.text("sinfo-o-F-C-nodes-cpus-aiot-unknown.txt"))
    XCTAssertNil(SinfoParser.parseCPUsState(text), "eight numbers are not one A/I/O/T")
    let parts = text.split(separator: "/").map(String.init)
    XCTAssertEqual(parts.count, 8)
    let nodes = SinfoParser.parseCPUsState(parts[0..<4].joined(separator: "/"))
    let cpus = SinfoParser.parseCPUsState(parts[4..<8].joined(separator: "/"))
    XCTAssertEqual(nodes, CPUsState(allocated: 281, idle: 16, other: 1, total: 298))
    XCTAssertEqual(cpus, CPUsState(allocated: 25608, idle: 11524, other: 244, total: 37376))
  }

  /// OSC fixed-width `-O nodehost:100,gres:512,gresused:512,statelong`, long GRES lists.
  func testSampleOSCTypedGpuSockets() throws {
    let text = try Fixture.text("sinfo-N-O-gres-gresused-typed-gpu-sockets-unknown.txt")
    let r = SinfoParser.parseNodes(
      text, separator: nil, fields: ["nodehost:100", "gres:512", "gresused:512", "statelong"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 61)
    let a20 = try node(r, "a0020")
    XCTAssertEqual(a20.gpusTotal, 4)
    XCTAssertEqual(a20.gpusUsed, 3, "gpu:a100:3(IDX:0-1,3)")
    XCTAssertEqual(a20.state.raw, "mixed-")
    XCTAssertEqual(a20.state.base, .mixed)
    XCTAssertTrue(a20.state.usable)
    XCTAssertEqual(a20.partition, "")
    let a23 = try node(r, "a0023")
    XCTAssertEqual(a23.state.base, .draining)
    XCTAssertEqual(a23.state.suffixes, ["@"])
    XCTAssertFalse(a23.state.usable)
    XCTAssertEqual([a23.gpusTotal, a23.gpusUsed], [4, 4])
    let a101 = try node(r, "a0101")
    XCTAssertEqual([a101.gpusTotal, a101.gpusUsed], [2, 2], "gpu:a100:2(S:2,7)")
    XCTAssertEqual(r.items.filter { $0.name == "a0104" }.count, 8)
    XCTAssertEqual(r.items.filter { !$0.state.usable }.map(\.name), Array(repeating: "a0023", count: 7))
  }

  /// OSC slices with completing, drained* and reserved nodes.
  func testSampleOSCCompletingDrainedReserved() throws {
    let text = try Fixture.text("sinfo-N-O-gres-states-completing-drained-reserved-unknown.txt")
    let r = SinfoParser.parseNodes(
      text, separator: nil, fields: ["nodehost:100", "gres:512", "gresused:512", "statelong"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 36)
    let a177 = try node(r, "a0177")
    XCTAssertEqual(a177.state.base, .completing)
    XCTAssertTrue(a177.state.usable)
    XCTAssertEqual([a177.gpusTotal, a177.gpusUsed], [2, 2])
    let a235 = try node(r, "a0235")
    XCTAssertEqual(a235.state.base, .drained)
    XCTAssertEqual(a235.state.suffixes, ["*"])
    XCTAssertFalse(a235.state.usable)
    XCTAssertEqual([a235.gpusTotal, a235.gpusUsed], [2, 0])
    let a286 = try node(r, "a0286")
    XCTAssertEqual(a286.state.base, .reserved)
    XCTAssertFalse(a286.state.usable)
    XCTAssertEqual(a286.gpusUsed, 0)
  }

  /// 25.05.3 real GPU cluster: sluice's columns in another order, space suffix.
  func testSample25_05SocketIdxDrainedMaint() throws {
    let text = try Fixture.text("sinfo-N-O-gres-socket-idx-noncontig-drained-maint-25.05.3.txt")
    let fields = [
      "NodeList", "AllocMem", "Memory", "CPUsState", "StateLong", "Partition", "Gres", "GresUsed",
    ]
    let r = SinfoParser.parseNodes(text, separator: " ", fields: fields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 23)
    let a001 = try node(r, "a001", "gpu")
    XCTAssertEqual([a001.cpusAllocated, a001.cpusIdle, a001.cpusOther, a001.cpusTotal], [288, 0, 0, 288])
    XCTAssertEqual(a001.memoryMB, 876896)
    XCTAssertEqual(a001.allocatedMemoryMB, 850000)
    XCTAssertEqual([a001.gpusTotal, a001.gpusUsed], [4, 4])
    XCTAssertEqual(a001.state.base, .allocated)
    XCTAssertTrue(a001.state.usable)
    let a002 = try node(r, "a002", "gpu3")
    XCTAssertEqual(a002.state.base, .drained)
    XCTAssertFalse(a002.state.usable)
    XCTAssertEqual([a002.cpusIdle, a002.cpusOther], [0, 288])
    XCTAssertEqual([a002.gpusTotal, a002.gpusUsed], [4, 0])
    let a004 = try node(r, "a004", "gpu")
    XCTAssertEqual(a004.state.base, .maint)
    XCTAssertFalse(a004.state.usable)
    let a005 = try node(r, "a005", "gpu2")
    XCTAssertEqual(a005.gpusUsed, 2, "gpu:model_a:2(IDX:0,3)")
    XCTAssertEqual(a005.cpusIdle, 144)
    let c001 = try node(r, "c001", "cpu")
    XCTAssertTrue(c001.isDefaultPartition)
    XCTAssertEqual(c001.gpusTotal, 0)
    XCTAssertEqual(r.items.filter(\.isDefaultPartition).map(\.name), ["c001"])
  }

  /// vpenso exporter: `-O NodeList,AllocMem,Memory,CPUsState,StateLong` fixed width.
  func testSampleVpensoMemoryCPUs() throws {
    let text = try Fixture.text("sinfo-N-O-nodelist-allocmem-memory-cpusstate-statelong-unknown.txt")
    let r = SinfoParser.parseNodes(
      text, separator: nil, fields: ["NodeList", "AllocMem", "Memory", "CPUsState", "StateLong"])
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 21)
    let a052 = try node(r, "a052")
    XCTAssertEqual([a052.cpusAllocated, a052.cpusIdle, a052.cpusTotal], [0, 16, 16])
    XCTAssertEqual(a052.allocatedMemoryMB, 0)
    XCTAssertEqual(a052.memoryMB, 193000)
    let b001 = r.items.filter { $0.name == "b001" }
    XCTAssertEqual(b001.count, 2)
    XCTAssertTrue(b001.allSatisfy { $0.state.base == .down && $0.state.raw == "down" })
    XCTAssertEqual(b001[0].allocatedMemoryMB, 327680)
    let b003 = r.items.filter { $0.name == "b003" }.map(\.state.base)
    XCTAssertEqual(b003, [.down, .idle])
  }

  /// 24.11.7 test cluster: default partition `cpu*`, several GPU types on one node.
  func testSample24_11MultiType() throws {
    let text = try Fixture.text(
      "sinfo-N-O-nodelist-mem-cpus-state-partition-gres-multitype-24.11.7.txt")
    let fields = [
      "NodeList", "AllocMem", "Memory", "CPUsState", "StateLong", "Partition", "Gres", "GresUsed",
    ]
    let r = SinfoParser.parseNodes(text, separator: " ", fields: fields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 25)
    let nb9 = try node(r, "nb9")
    XCTAssertEqual([nb9.gpusTotal, nb9.gpusUsed], [4, 0])
    XCTAssertEqual(nb9.partition, "gpu")
    let nb1 = try node(r, "nb1")
    XCTAssertEqual(nb1.gpusTotal, 4)
    let na1 = r.items.filter { $0.name == "na1" }
    XCTAssertEqual(na1.map(\.partition), ["cpu", "high", "debug"])
    XCTAssertEqual(na1.map(\.isDefaultPartition), [true, false, false])
    XCTAssertEqual([na1[0].cpusAllocated, na1[0].cpusIdle], [4, 28])
    XCTAssertEqual(r.items.reduce(0) { $0 + $1.gpusTotal }, 4 * 8 + 4 * 2)
  }

  /// firecrest `sinfo -N --format='%z|%c|%O|%e|%f|%N|%o|%n|%T|%R|%w|%v|%m|%C'`.
  func testSamplePipeFormat22_05() throws {
    let text = try Fixture.text("sinfo-N-o-pipe-format-22.05.5.txt")
    let fields = [
      "SocketCoreThread", "CPUs", "CPUsLoad", "FreeMem", "Features", "NodeList", "NodeAddr", "NodeHost",
      "StateLong", "Partition", "Weight", "Version", "Memory", "CPUsState",
    ]
    let r = SinfoParser.parseNodes(text, separator: "|", fields: fields)
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.map(\.partition), ["part01", "part02", "xfer"])
    for n in r.items {
      XCTAssertEqual(n.name, "localhost")
      XCTAssertEqual(n.state.base, .idle)
      XCTAssertEqual(n.memoryMB, 1000)
      XCTAssertEqual([n.cpusAllocated, n.cpusIdle, n.cpusOther, n.cpusTotal], [0, 2, 0, 2])
    }
  }

  /// rivosinc custom `-o` JSON lines: values rebuilt into sluice's format.
  func testSampleJSONLinesRebuilt() throws {
    let text = try Fixture.text("sinfo-custom-o-jsonlines-unknown.txt")
    var lines: [String] = []
    for line in SlurmText.lines(text) {
      let obj = try XCTUnwrap(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let mem = try XCTUnwrap(obj["mem"] as? Int)
      lines.append(
        usLine([
          obj["n"] as? String ?? "", obj["p"] as? String ?? "", obj["s"] as? String ?? "",
          obj["cstate"] as? String ?? "", String(mem), "N/A", "(null)", "(null)",
        ]))
    }
    let r = SinfoParser.parseNodes(lines.joined(separator: "\n"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 8)
    let cs156 = try node(r, "cs156")
    XCTAssertEqual(cs156.state.base, .completing)
    XCTAssertEqual([cs156.cpusAllocated, cs156.cpusIdle, cs156.cpusTotal], [56, 8, 64])
    XCTAssertEqual(cs156.memoryMB, 770000)
    XCTAssertNil(cs156.allocatedMemoryMB)
    XCTAssertEqual(
      r.items.filter { $0.name == "cs25" }.map(\.partition), ["hw", "hw-l", "hw-m", "hw-h", "cdn"])
    XCTAssertEqual(try node(r, "cs53").cpusIdle, 12)
  }

  /// `sinfo --json` 21.08.5: values rebuilt into sluice's format.
  func testSampleJSON21_08Rebuilt() throws {
    let json = try Fixture.json("sinfo-json-21.08.5.txt")
    let nodes = try XCTUnwrap(json["nodes"] as? [[String: Any]])
    var lines: [String] = []
    for n in nodes {
      let cpus = n["cpus"] as? Int ?? 0
      let alloc = n["alloc_cpus"] as? Int ?? 0
      let idle = n["idle_cpus"] as? Int ?? 0
      let flags = (n["state_flags"] as? [String]) ?? []
      let state = ([n["state"] as? String ?? ""] + flags).joined(separator: "+")
      for p in (n["partitions"] as? [String]) ?? [] {
        lines.append(
          usLine([
            n["name"] as? String ?? "", p, state, "\(alloc)/\(idle)/\(cpus - alloc - idle)/\(cpus)",
            String(n["real_memory"] as? Int ?? 0), String(n["alloc_memory"] as? Int ?? 0),
            n["gres"] as? String ?? "", n["gres_used"] as? String ?? "",
          ]))
      }
    }
    let r = SinfoParser.parseNodes(lines.joined(separator: "\n"))
    XCTAssertEqual(r.skipped, [])
    XCTAssertEqual(r.items.count, 4)
    let cs2 = try node(r, "cs2.example.company.com")
    XCTAssertEqual(cs2.state.base, .mixed)
    XCTAssertEqual([cs2.cpusAllocated, cs2.cpusIdle, cs2.cpusTotal], [4, 60, 64])
    XCTAssertEqual(cs2.memoryMB, 500000)
    XCTAssertEqual(cs2.allocatedMemoryMB, 114688)
    XCTAssertEqual(cs2.gpusTotal, 0)
    XCTAssertEqual(try node(r, "cs4.example.company.com").state.base, .allocated)
    let cs5 = try node(r, "cs5.example.company.com")
    XCTAssertEqual(cs5.state.base, .down)
    XCTAssertFalse(cs5.state.usable)
  }
}
