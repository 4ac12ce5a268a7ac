/// The networks of the reference paper's code, and a small MLP, described by a value that a
/// model file can record and rebuild from.
public struct NetworkSpec: Sendable, Equatable, Codable {
    public enum Architecture: String, Sendable, Codable, CaseIterable {
        /// Rotated MNIST: conv+BN+ReLU with k, k, 2k channels, max-pool, dropout2d, 2k, max-pool,
        /// dropout2d, 2k, dropout2d, global mean, linear.
        case smallnet
        /// The two-sprite task: conv+BN+ReLU c, 2c, pool, 4c, pool, 8c, pool, pool(4), flatten, linear.
        case simpleconv
        /// Flatten, then `width`-unit ReLU hidden layers (`depth` of them), then linear.
        case mlp
    }

    public var architecture: Architecture
    /// k for smallnet, c for simpleconv, hidden units for mlp.
    public var width: Int
    /// Input channels (images) or features (mlp: the flattened input size).
    public var inputChannels: Int
    /// Classes, or 1 for scalar regression.
    public var outputs: Int
    /// Dropout probability (smallnet's Dropout2d layers; none when 0, which also renumbers the
    /// layers as PyTorch does).
    public var dropout: Float
    /// Hidden layers of the mlp.
    public var depth: Int

    public init(architecture: Architecture, width: Int, inputChannels: Int, outputs: Int, dropout: Float = 0, depth: Int = 2) {
        (self.architecture, self.width, self.inputChannels, self.outputs) = (architecture, width, inputChannels, outputs)
        (self.dropout, self.depth) = (dropout, depth)
    }

    /// A freshly initialised network; initial values are drawn from `random`.
    public func makeNetwork(random: inout RandomGenerator) -> Sequential {
        func convBN(_ cin: Int, _ cout: Int) -> [Layer] {
            [Conv2d(cin, cout, kernelSize: 3, padding: 1, random: &random), BatchNorm2d(cout), ReLU()]
        }
        let k = width
        switch architecture {
        case .smallnet:
            let drop: [Layer] = dropout > 0 ? [Dropout2d(dropout)] : []
            var layers: [Layer] = convBN(inputChannels, k) + convBN(k, k) + convBN(k, 2 * k) + [MaxPool2d(2)] + drop
            layers += convBN(2 * k, 2 * k) + [MaxPool2d(2)] + drop
            layers += convBN(2 * k, 2 * k) + (dropout > 0 ? [Dropout2d(dropout)] : [])
            layers += [GlobalAvgPool(), Linear(2 * k, outputs, random: &random)]
            return Sequential(layers)
        case .simpleconv:
            var layers: [Layer] = convBN(inputChannels, k) + convBN(k, 2 * k) + [MaxPool2d(2)]
            layers += convBN(2 * k, 4 * k) + [MaxPool2d(2)] + convBN(4 * k, 8 * k) + [MaxPool2d(2), MaxPool2d(4), Flatten()]
            layers += [Linear(8 * k, outputs, random: &random)]
            return Sequential(layers)
        case .mlp:
            var layers: [Layer] = [Flatten()]
            var features = inputChannels
            for _ in 0..<depth {
                layers += [Linear(features, k, random: &random), ReLU()]
                features = k
            }
            layers.append(Linear(features, outputs, random: &random))
            return Sequential(layers)
        }
    }
}
