/// The one source of randomness for training: initialisation, shuffling, dropout masks and
/// augmentation samples all draw from generators of this type.
///
/// Counter-based: the i-th number of a stream is a hash of (key, i) (SplitMix64's finaliser
/// over key + i·γ), so a generator's whole state is two integers, it can be saved and restored
/// exactly, and values never depend on threads. `stream(_:)` derives independent generators
/// (one per layer, per epoch, …) from one seed.
public struct RandomGenerator: Sendable, Equatable, Codable {
    /// Identifies the stream.
    public private(set) var key: UInt64
    /// How many numbers have been drawn.
    public private(set) var counter: UInt64

    public init(seed: UInt64) {
        key = RandomGenerator.mix(seed ^ 0x5DEE_CE66_D1CE_4E5B)
        counter = 0
    }

    /// Restores a saved state.
    public init(key: UInt64, counter: UInt64) {
        self.key = key
        self.counter = counter
    }

    /// An independent generator for sub-stream `id`, which does not advance this one.
    public func stream(_ id: UInt64) -> RandomGenerator {
        RandomGenerator(key: RandomGenerator.mix(key ^ RandomGenerator.mix(id &+ 0x2545_F491_4F6C_DD1D)), counter: 0)
    }

    /// 64 uniformly random bits.
    public mutating func next() -> UInt64 {
        counter &+= 1
        return RandomGenerator.mix(key &+ counter &* 0x9E37_79B9_7F4A_7C15)
    }

    /// Uniform in [0, 1) with 24 random bits.
    public mutating func nextFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// Uniform in [low, high).
    public mutating func nextFloat(in range: Range<Float>) -> Float {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextFloat()
    }

    /// Uniform in 0..<bound, without modulo bias.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt: bound must be positive")
        let limit = UInt64.max - UInt64.max % UInt64(bound)
        while true {
            let value = next()
            if value < limit { return Int(value % UInt64(bound)) }
        }
    }

    /// 0..<count in a uniformly random order (Fisher–Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, nextInt(below: i + 1)) }
        return order
    }

    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
