import XCTest

@testable import SluiceCore

final class GresTests: XCTestCase {
  func testGpuCountForms() {
    XCTAssertEqual(Gres.gpuCount("gpu:4"), 4)
    XCTAssertEqual(Gres.gpuCount("gpu:a100:4(S:0-1)"), 4)
    XCTAssertEqual(Gres.gpuCount("gpu:h100:3(IDX:1-3)"), 3)
    XCTAssertEqual(Gres.gpuCount("gpu:(null):0(IDX:N/A)"), 0)
    XCTAssertEqual(Gres.gpuCount("gpu:model_a:2,gpu:model_b:2"), 4)
    XCTAssertEqual(Gres.gpuCount("gpu:model_a:0(IDX:N/A),gpu:model_b:0(IDX:N/A)"), 0)
    XCTAssertEqual(Gres.gpuCount("gpu:a100:2(S:2,7),nsight:no_consume:1"), 2)
    XCTAssertEqual(Gres.gpuCount("gpu:a100:3(IDX:0-1,3),pfsdir:scratch:0"), 3)
    XCTAssertEqual(Gres.gpuCount("gpu:quadro:1(S:0),vmem:2G"), 1)
    XCTAssertEqual(Gres.gpuCount("shard:h100:8,mps:100"), 0)
    XCTAssertEqual(Gres.gpuCount("(null)"), 0)
    XCTAssertEqual(Gres.gpuCount("N/A"), 0)
    XCTAssertEqual(Gres.gpuCount(""), 0)
    XCTAssertEqual(Gres.gpuCount("gpu:h100:1,shard:h10"), 1)
    XCTAssertEqual(Gres.gpuCount("gpu:a100:4(S:0-"), 4, "truncated inside the socket list")
    XCTAssertEqual(Gres.gpuCount("gpu:h1"), 0, "truncated before the count")
    XCTAssertEqual(Gres.gpuCount("gpu:h1", missingCount: 1), 1)
    XCTAssertEqual(Gres.gpuCount("gpus:4"), 0, "another GRES name")
  }

  func testItems() {
    XCTAssertEqual(
      Gres.items("gpu:quadro:1(S:0),vmem:2G"),
      [
        Gres.Item(name: "gpu", type: "quadro", count: 1),
        Gres.Item(name: "vmem", count: 2 << 30),
      ])
    XCTAssertEqual(
      Gres.items("pfsdir:scratch:no_consume:1"),
      [Gres.Item(name: "pfsdir", type: "scratch", count: 1, noConsume: true)])
    XCTAssertEqual(Gres.items("gpu:(null):0(IDX:N/A)"), [Gres.Item(name: "gpu", count: 0)])
    XCTAssertEqual(
      Gres.items("gpu:h100:1,shard:h10"),
      [Gres.Item(name: "gpu", type: "h100", count: 1), Gres.Item(name: "shard", type: "h10")])
    XCTAssertEqual(Gres.items("gres/gpu:a100:2"), [Gres.Item(name: "gpu", type: "a100", count: 2)])
    XCTAssertEqual(Gres.items("gres:gpu:2"), [Gres.Item(name: "gpu", count: 2)])
  }

  func testRequestedGPUs() {
    XCTAssertEqual(Gres.requestedGPUs("gres:gpu:2"), 2)
    XCTAssertEqual(Gres.requestedGPUs("gres/gpu:2"), 2)
    XCTAssertEqual(Gres.requestedGPUs("gres/gpu:a100:2"), 2)
    XCTAssertEqual(Gres.requestedGPUs("gres/gpu=3"), 3)
    XCTAssertEqual(Gres.requestedGPUs("gpu:titanxp:1"), 1)
    XCTAssertEqual(Gres.requestedGPUs("gpu:rtx2080,gg:g0"), 1, "no count means one")
    XCTAssertEqual(Gres.requestedGPUs("gg:g0:1,gpu:1"), 1)
    XCTAssertEqual(Gres.requestedGPUs("gres/gpfs:ess:1"), 0)
    XCTAssertEqual(Gres.requestedGPUs("N/A"), 0)
    XCTAssertEqual(Gres.requestedGPUs(""), 0)
  }

  func testTresGpuCount() {
    XCTAssertEqual(Tres.gpuCount("cpu=1,mem=500M,node=1,billing=1,gres/gpu=2"), 2)
    XCTAssertEqual(Tres.gpuCount("cpu=4,mem=8G,node=1,billing=4"), 0)
    XCTAssertEqual(
      Tres.gpuCount("cpu=2,mem=1G,node=1,billing=2,gres/gg=1,gres/gpu=1,gres/gpu:rtx2080=1"), 1,
      "typed and untyped entries describe the same GPU")
    XCTAssertEqual(Tres.gpuCount("billing=8,cpu=8,gres/gpu:v100=1,mem=10G,node=1"), 1)
    XCTAssertEqual(Tres.gpuCount("gres/gpu:a=1,gres/gpu:b=2"), 3)
    XCTAssertEqual(Tres.gpuCount("gres/gpumem=20500736K,gres/gpuutil=90,mem=1294440K"), 0)
    XCTAssertEqual(Tres.gpuCount(""), 0)
    XCTAssertEqual(Tres.gpuCount("N/A"), 0)
    XCTAssertEqual(Tres.gpuCount("gres/gpu=x"), 0)
  }

  /// Reads `sinfo --Format="Nodes: ,Gres: ,GresUsed:"` style samples: (count, total, used).
  private func rows(_ name: String, columns: Int) throws -> [(Int, Int, Int)] {
    let lines = SlurmText.lines(try Fixture.text(name))
    return try lines.map { line in
      let f = SlurmColumns.fields(line, separator: " ", expected: columns)
      XCTAssertEqual(f.count, columns, line)
      let count = try XCTUnwrap(Int(f[0]), line)
      let total = Gres.gpuCount(f[1])
      let used = columns > 2 ? Gres.gpuCount(f[2]) : 0
      return (count, total, used)
    }
  }

  func testSampleUntypedIdleAlloc20_11() throws {
    let r = try rows("sinfo-Format-nodes-gres-gresused-idle-alloc-20.11.8.txt", columns: 3)
    XCTAssertEqual(r.map { [$0.0, $0.1, $0.2] }, [[99, 0, 0], [3, 2, 2], [1, 2, 1], [20, 2, 0]])
  }

  func testSampleTypedIdle23_11() throws {
    let r = try rows("sinfo-Format-nodes-gres-gresused-idle-typed-23.11.10-2.txt", columns: 3)
    XCTAssertEqual(r.map { [$0.0, $0.1, $0.2] }, [[66, 0, 0], [4, 1, 0], [4, 1, 1], [1, 2, 2]])
  }

  func testSampleNullTypeIdx21_08() throws {
    let r = try rows("sinfo-Format-nodes-gres-gresused-null-type-idx-21.08.5.txt", columns: 3)
    XCTAssertEqual(r.map { [$0.0, $0.1, $0.2] }, [[2, 8, 0]])
  }

  func testSampleTruncatedShard23_11() throws {
    let name = "sinfo-Format-nodes-gres-total-truncated-shard-socket-23.11.10-2.txt"
    let r = try rows(name, columns: 2)
    XCTAssertEqual(r.map { [$0.0, $0.1] }, [[66, 0], [4, 1], [4, 1], [1, 2]])
    let truncated = SlurmText.lines(try Fixture.text(name))[2]
    XCTAssertEqual(truncated, "4 gpu:h100:1,shard:h10")
  }

  func testSampleAllocatedTypedIdx23_11() throws {
    let r = try rows("sinfo-Format-nodes-gresused-allocated-typed-idx-23.11.10.txt", columns: 2)
    XCTAssertEqual(r.map { [$0.0, $0.1] }, [[1, 3], [6, 4], [1, 3], [12, 0], [2, 1], [1, 1]])
    XCTAssertEqual(r.reduce(0) { $0 + $1.0 * $1.1 }, 33, "GPUs in use over the partition")
  }
}
