import ArgumentParser
import Bundle
import Foundation
import Kernels
import NN

/// `augerino bench mnist`: trains smallnet on the real MNIST files without augmentation and
/// reports test accuracy per epoch: the check that the training library learns.
struct BenchMNIST: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mnist",
        abstract: "Train smallnet on MNIST (no augmentation) and report test accuracy per epoch.",
        discussion: """
            Reads train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz \
            and t10k-labels-idx1-ubyte.gz from --data. Adam with cosine decay, weight decay 1e-4 on \
            the network, dropout 0.3, inputs standardised with the training set's mean and deviation.
            """)

    @Option(help: "Folder with the four MNIST IDX files (gzip-compressed or not).")
    var data: String = "../shared/data/mnist"

    @Option(help: "Epochs.")
    var epochs: Int = 5

    @Option(help: "Channel width k of smallnet.")
    var width: Int = 32

    @Option(help: "Batch size.")
    var batch: Int = 128

    @Option(help: "Learning rate at the start (cosine decay to 0).")
    var learningRate: Float = 0.003

    @Option(help: "Seed for initialisation, shuffling and dropout.")
    var seed: UInt64 = 0

    @OptionGroup var threading: ThreadOption

    @Flag(help: "One JSON object per epoch instead of text.")
    var json = false

    func validate() throws {
        guard (1...1000).contains(epochs) else { throw ValidationError("--epochs \(epochs): must be from 1 to 1000") }
        guard (1...1024).contains(width) else { throw ValidationError("--width \(width): must be from 1 to 1024") }
        guard (2...4096).contains(batch) else { throw ValidationError("--batch \(batch): must be from 2 to 4096") }
        guard learningRate > 0 else { throw ValidationError("--learning-rate \(learningRate): must be positive") }
    }

    func run() throws {
        let parallelism = try threading.parallelism()
        let folder = URL(fileURLWithPath: data)
        func load(_ name: String) throws -> IDXArray {
            let gz = folder.appendingPathComponent(name + ".gz")
            return try IDXArray.read(from: FileManager.default.fileExists(atPath: gz.path) ? gz : folder.appendingPathComponent(name))
        }
        let trainImages = try load("train-images-idx3-ubyte"), trainLabels = try load("train-labels-idx1-ubyte")
        let testImages = try load("t10k-images-idx3-ubyte"), testLabels = try load("t10k-labels-idx1-ubyte")
        for (images, labels, split) in [(trainImages, trainLabels, "train"), (testImages, testLabels, "t10k")] {
            guard images.shape.count == 3, images.shape[1] == 28, images.shape[2] == 28, labels.shape == [images.shape[0]] else {
                throw CommandFailure("\(data): the \(split) files should hold N×28×28 images and N labels, found \(images.shape) and \(labels.shape)")
            }
        }
        // Standardise with the training set's statistics.
        let mean = trainImages.values.reduce(0.0) { $0 + Double($1) } / Double(trainImages.values.count)
        let deviation = (trainImages.values.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(trainImages.values.count)).squareRoot()
        let standardise = { (values: [Float]) in values.map { Float((Double($0) - mean) / deviation) } }
        let trainX = standardise(trainImages.values), testX = standardise(testImages.values)
        let trainY = trainLabels.values.map { Int32($0) }, testY = testLabels.values.map { Int32($0) }
        let (trainCount, testCount, pixels) = (trainY.count, testY.count, 28 * 28)

        var random = RandomGenerator(seed: seed)
        let net = NetworkSpec(architecture: .smallnet, width: width, inputChannels: 1, outputs: 10, dropout: 0.3).makeNetwork(random: &random)
        let optimizer = Adam([ParameterGroup(net.parameters.map(\.tensor), learningRate: learningRate, weightDecay: 1e-4)])
        let stepsPerEpoch = trainCount / batch
        let schedule = LearningRateSchedule.cosine(totalSteps: epochs * stepsPerEpoch, floor: 0)
        if !json { print("MNIST: smallnet k=\(width), batch \(batch), \(epochs) epochs, \(parallelism), \(trainCount) train / \(testCount) test") }

        try TensorContext.with(parallelism) {
            var step = 0
            let start = BenchTiming.now()
            for epoch in 1...epochs {
                net.train()
                let order = random.permutation(trainCount)
                var lossSum = 0.0
                for b in 0..<stepsPerEpoch {
                    let indices = order[(b * batch)..<((b + 1) * batch)]
                    var values = [Float](); values.reserveCapacity(batch * pixels)
                    for i in indices { values += trainX[(i * pixels)..<((i + 1) * pixels)] }
                    optimizer.setLearningRates([learningRate * schedule.factor(at: step)])
                    let loss = Tensor.crossEntropy(net(Tensor(shape: [batch, 1, 28, 28], values: values), random: &random),
                                                   labels: indices.map { trainY[$0] })
                    guard loss.item.isFinite else { throw CommandFailure("training diverged at epoch \(epoch) (loss \(loss.item)); try a smaller --learning-rate") }
                    optimizer.zeroGradients()
                    loss.backward()
                    optimizer.step()
                    lossSum += Double(loss.item)
                    step += 1
                }
                net.eval()
                var correct = 0
                TensorContext.withoutGradients {
                    for first in stride(from: 0, to: testCount, by: 500) {
                        let count = min(500, testCount - first)
                        let logits = net(Tensor(shape: [count, 1, 28, 28], values: Array(testX[(first * pixels)..<((first + count) * pixels)])))
                        let v = logits.values
                        for r in 0..<count {
                            let row = v[(r * 10)..<(r * 10 + 10)]
                            if row.firstIndex(of: row.max()!)! - r * 10 == Int(testY[first + r]) { correct += 1 }
                        }
                    }
                }
                let accuracy = Double(correct) / Double(testCount)
                let elapsed = BenchTiming.now() - start
                if json {
                    print(BenchTiming.jsonLine([("epoch", epoch), ("train_loss", lossSum / Double(stepsPerEpoch)),
                                                ("test_accuracy", accuracy * 100), ("seconds", elapsed)]))
                } else {
                    print(String(format: "  epoch %d  train loss %.4f  test accuracy %.2f%%  (%.0f s)", epoch, lossSum / Double(stepsPerEpoch), accuracy * 100, elapsed))
                }
                fflush(nil)
            }
        }
    }
}
