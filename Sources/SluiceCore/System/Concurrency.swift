import Foundation

/// Runs an action the first time `run` is called, from any thread; later calls
/// wait for that first run to finish.
public final class Once: @unchecked Sendable {
  private let lock = NSLock()
  private var action: (() -> Void)?

  public init(_ action: @escaping () -> Void) { self.action = action }

  @Sendable public func run() {
    lock.lock()
    defer { lock.unlock() }
    if let a = action {
      action = nil
      a()
    }
  }
}

/// Work started on its own thread; `wait` gives its result.
public final class Background<T>: @unchecked Sendable {
  private let done = DispatchSemaphore(value: 0)
  private var result: Result<T, Error>?

  public init(_ work: @escaping @Sendable () throws -> T) {
    Thread { [self] in
      result = Result { try work() }
      done.signal()
    }.start()
  }

  public func wait() throws -> T {
    done.wait()
    done.signal()
    return try result!.get()
  }
}
