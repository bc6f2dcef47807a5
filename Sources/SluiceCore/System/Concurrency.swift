import Foundation

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

/// A value handed from one thread to another, once: `take` waits for `give`.
public final class Handoff<T>: @unchecked Sendable {
  private let given = DispatchSemaphore(value: 0)
  private var value: T?

  public init() {}

  public func give(_ v: T) {
    value = v
    given.signal()
  }

  public func take() -> T {
    given.wait()
    return value!
  }
}
