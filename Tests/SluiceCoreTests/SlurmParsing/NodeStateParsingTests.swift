import XCTest

@testable import SluiceCore

final class NodeStateParsingTests: XCTestCase {
  func testSuffixesAndLongNames() {
    let cases: [(String, NodeState.Base, Set<Character>, Bool)] = [
      ("idle", .idle, [], true),
      ("idle~", .idle, ["~"], true),
      ("mix-", .mixed, ["-"], true),
      ("mixed-", .mixed, ["-"], true),
      ("mixed", .mixed, [], true),
      ("allocated", .allocated, [], true),
      ("alloc@", .allocated, ["@"], false),
      ("completing", .completing, [], true),
      ("comp", .completing, [], true),
      ("drain*", .drained, ["*"], false),
      ("drained*", .drained, ["*"], false),
      ("drained", .drained, [], false),
      ("draining@", .draining, ["@"], false),
      ("drng", .draining, [], false),
      ("down#", .down, ["#"], false),
      ("down*", .down, ["*"], false),
      ("fail*", .fail, ["*"], false),
      ("failg", .failing, [], false),
      ("maint", .maint, [], false),
      ("reserved", .reserved, [], false),
      ("resv", .reserved, [], false),
      ("planned", .planned, [], true),
      ("plnd", .planned, [], true),
      ("inval", .inval, [], false),
      ("npc", .perfctrs, [], false),
      ("pow_dn", .powerDown, [], false),
      ("pow_up", .powerUp, [], true),
      ("idle#", .idle, ["#"], true),
      ("idle%", .idle, ["%"], false),
      ("idle!", .idle, ["!"], false),
      ("mixed$", .mixed, ["$"], false),
      ("futr", .future, [], false),
      ("unk*", .unknown, ["*"], false),
    ]
    for (raw, base, suffixes, usable) in cases {
      let s = NodeState.parse(raw)
      XCTAssertEqual(s.raw, raw)
      XCTAssertEqual(s.base, base, raw)
      XCTAssertEqual(s.suffixes, suffixes, raw)
      XCTAssertEqual(s.flags, [], raw)
      XCTAssertEqual(s.usable, usable, raw)
    }
  }

  func testCombinedScontrolStates() {
    let a = NodeState.parse("MIXED+DRAIN+DYNAMIC_NORM+MAINTENANCE+RESERVED")
    XCTAssertEqual(a.base, .mixed)
    XCTAssertEqual(a.flags, ["drain", "dynamic_norm", "maintenance", "reserved"])
    XCTAssertFalse(a.usable)

    let b = NodeState.parse("IDLE+DRAIN")
    XCTAssertEqual(b.base, .idle)
    XCTAssertEqual(b.flags, ["drain"])
    XCTAssertFalse(b.usable)

    let c = NodeState.parse("MIXED+DYNAMIC_NORM")
    XCTAssertEqual(c.base, .mixed)
    XCTAssertTrue(c.usable)

    let d = NodeState.parse("MIXED+DYNAMIC_NORM+MAINTENANCE+RESERVED+PLANNED")
    XCTAssertTrue(d.flags.contains("planned"))
    XCTAssertFalse(d.usable)

    XCTAssertTrue(NodeState.parse("IDLE+CLOUD+POWERED_DOWN").usable)
    XCTAssertFalse(NodeState.parse("IDLE+POWERING_DOWN").usable)
    XCTAssertFalse(NodeState.parse("ALLOCATED+REBOOT_REQUESTED").usable)
    XCTAssertFalse(NodeState.parse("IDLE+NOT_RESPONDING").usable)
    XCTAssertFalse(NodeState.parse("IDLE+DYNAMIC_NORM+RESERVED").usable)
  }

  func testUnknownAndEmptyDoNotCrash() {
    for raw in ["", "+", "*", "~~~", "bogus", "BOGUS+DRAIN", "🙂", "\u{1f}"] {
      let s = NodeState.parse(raw)
      XCTAssertFalse(s.usable, raw)
    }
    XCTAssertEqual(NodeState.parse("bogus").base, .unknown)
    XCTAssertEqual(NodeState.parse("BOGUS+DRAIN").flags, ["drain"])
    XCTAssertEqual(NodeState.parse("  idle  ").base, .idle)
    XCTAssertEqual(NodeState.parse("+idle").base, .idle)
    XCTAssertTrue(NodeState.parse("idle+").usable)
  }

  /// `sinfo -h -N -o '%n,%T'`-style dump of 709 nodes (2017 exporter fixture).
  func testSampleStateSuffixes() throws {
    let text = try Fixture.text("sinfo-N-nodename-state-suffixes-unknown.txt")
    let result = SinfoParser.parseNodes(text, separator: ",", fields: ["NodeList", "StateLong"])
    XCTAssertEqual(result.items.count, 709)
    XCTAssertEqual(result.skipped, [])
    var byRaw: [String: Int] = [:]
    for n in result.items { byRaw[n.state.raw, default: 0] += 1 }
    XCTAssertEqual(
      byRaw,
      [
        "allocated": 250, "down": 1, "down*": 66, "drained": 7, "drained*": 11, "draining": 10,
        "fail*": 1, "idle": 319, "mixed": 44,
      ])
    XCTAssertEqual(result.items.filter(\.state.usable).count, 250 + 319 + 44)
    let n166 = try XCTUnwrap(result.items.first { $0.name == "lxfoo0166" })
    XCTAssertEqual(n166.state.base, .fail)
    XCTAssertEqual(n166.state.suffixes, ["*"])
    let n26 = try XCTUnwrap(result.items.first { $0.name == "lxfoo0026" })
    XCTAssertEqual(n26.state.base, .down)
    XCTAssertFalse(n26.state.usable)
    XCTAssertEqual(result.items[0].name, "lxfoo0001")
    XCTAssertEqual(result.items[0].state.base, .idle)
  }
}
