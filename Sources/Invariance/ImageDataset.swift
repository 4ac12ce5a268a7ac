import NN

/// What the network predicts.
public enum LearningTask: Sendable, Equatable, Codable {
    /// One of `classes` labels (0..<classes) per image; cross-entropy loss, accuracy metric.
    case classification(classes: Int)
    /// One number per image; mean squared error loss and metric.
    case regression
}

/// Images held in memory, already normalised: N × C × H × W floats, with a class label or a
/// regression target per image.
public struct ImageDataset: Sendable {
    public let images: [Float]
    public let channels: Int, height: Int, width: Int
    /// Class indices (classification) or targets (regression), one per image.
    public let targets: [Float]

    public var count: Int { targets.count }
    public var imageSize: Int { channels * height * width }

    public init(images: [Float], channels: Int, height: Int, width: Int, targets: [Float]) {
        precondition(images.count == targets.count * channels * height * width,
                     "ImageDataset: \(images.count) values are not \(targets.count) images of \(channels)x\(height)x\(width)")
        (self.images, self.channels, self.height, self.width, self.targets) = (images, channels, height, width, targets)
    }

    /// The images at `indices` as one [B, C, H, W] tensor.
    public func batch(_ indices: some Collection<Int>) -> Tensor {
        var values = [Float]()
        values.reserveCapacity(indices.count * imageSize)
        for i in indices { values += images[(i * imageSize)..<((i + 1) * imageSize)] }
        return Tensor(shape: [indices.count, channels, height, width], values: values)
    }

    /// Class labels at `indices`.
    public func labels(_ indices: some Collection<Int>) -> [Int32] { indices.map { Int32(targets[$0]) } }

    /// Targets at `indices` as a [B, 1] tensor.
    public func targetTensor(_ indices: some Collection<Int>) -> Tensor {
        Tensor(shape: [indices.count, 1], values: indices.map { targets[$0] })
    }

    /// The first `count` images (or all).
    public func prefix(_ count: Int) -> ImageDataset {
        let n = min(count, self.count)
        return ImageDataset(images: Array(images[0..<(n * imageSize)]), channels: channels, height: height, width: width,
                            targets: Array(targets[0..<n]))
    }
}
