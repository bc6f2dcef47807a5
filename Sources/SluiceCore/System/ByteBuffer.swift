/// Bytes appended in place through a pointer: what the JSON writers write into.
/// A tick writes ~100,000 small pieces (keys, values, commas) for 1,000 runs, and
/// an Array's checks and generic copy on each append were a third of that work.
public final class ByteBuffer {
  public private(set) var base: UnsafeMutablePointer<UInt8>
  public private(set) var count = 0
  private var capacity: Int

  public init(capacity: Int = 1 << 12) {
    self.capacity = max(16, capacity)
    base = .allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// Makes room for `n` bytes in all, so that appending up to there never regrows
  /// (regrowing copies, and touches new pages).
  public func reserve(_ n: Int) {
    if n > capacity { grow(to: n) }
  }

  private func grow(to n: Int) {
    let c = max(n, capacity * 2)
    let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: c)
    bigger.update(from: base, count: count)
    base.deallocate()
    base = bigger
    capacity = c
  }

  @inline(__always) public func append(_ b: UInt8) {
    if count == capacity { grow(to: count + 1) }
    base[count] = b
    count += 1
  }

  @inline(__always) public func append(_ p: UnsafeBufferPointer<UInt8>) {
    let n = p.count
    guard n > 0 else { return }
    if count + n > capacity { grow(to: count + n) }
    (base + count).update(from: p.baseAddress!, count: n)
    count += n
  }

  /// `,"k":` (no comma if `comma` is false) in one step: a state file writes ~25
  /// keys a run.
  @inline(__always) func appendKey(_ k: StaticString, comma: Bool) {
    let n = k.utf8CodeUnitCount
    if count + n + 4 > capacity { grow(to: count + n + 4) }
    var p = base + count
    if comma {
      p.pointee = 0x2C
      p += 1
    }
    p.pointee = 0x22
    (p + 1).update(from: k.utf8Start, count: n)
    p += n + 1
    p[0] = 0x22
    p[1] = 0x3A
    count = p + 2 - base
  }

  public func append(_ s: StaticString) {
    s.withUTF8Buffer { append($0) }
  }

  public func append(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { append($0) }
  }

  public func removeAll() { count = 0 }

  /// Reads the bytes so far in place (the buffer is kept alive meanwhile; a pointer
  /// taken out of it would not keep it).
  public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
    try withExtendedLifetime(self) { try body(UnsafeBufferPointer(start: base, count: count)) }
  }

  /// A copy of the bytes so far.
  public var array: [UInt8] { withBytes { Array($0) } }

  public var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }
}

/// The decimal digits of `v` (a '-' first if negative), made in a stack buffer
/// and handed to `body`: no String is made. Shared by the JSON writer and the
/// run table.
@inline(__always) func withDecimalDigits<R>(_ v: Int, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
  withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
    var n = v.magnitude  // -Int.min does not fit an Int
    var i = 20
    repeat {
      i -= 1
      buf[i] = 0x30 &+ UInt8(truncatingIfNeeded: n % 10)
      n /= 10
    } while n > 0
    if v < 0 {
      i -= 1
      buf[i] = 0x2D
    }
    return body(UnsafeBufferPointer(rebasing: buf[i..<20]))
  }
}
