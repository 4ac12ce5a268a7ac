/// A fixed-size, 64-byte aligned float32 buffer owned by a tensor (or a gradient).
///
/// Storage is shared by tensors that are views of each other (`reshaped`); operations never
/// write into an input's storage, only into the storage of the tensor they create.
public final class TensorStorage {
    /// Number of floats.
    public let count: Int
    /// The first float; valid for `count` floats while this object lives.
    public let pointer: UnsafeMutablePointer<Float>

    /// Uninitialised storage for `count` floats; the caller writes every element.
    init(uninitializedCount count: Int) {
        precondition(count >= 0, "TensorStorage: negative count \(count)")
        self.count = count
        pointer = TensorMemory.allocate(bytes: count * 4).bindMemory(to: Float.self, capacity: max(16, count))
    }

    /// Storage filled with `value`.
    public convenience init(count: Int, repeating value: Float = 0) {
        self.init(uninitializedCount: count)
        pointer.update(repeating: value, count: count)
    }

    /// Storage holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(uninitializedCount: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { TensorMemory.release(UnsafeMutableRawPointer(pointer), bytes: count * 4) }

    /// A copy of the contents.
    public var values: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { pointer.update(repeating: value, count: count) }

    /// A new storage with the same contents.
    public func copy() -> TensorStorage {
        let other = TensorStorage(uninitializedCount: count)
        other.pointer.update(from: pointer, count: count)
        return other
    }
}
