import Bundle
import Logging

/// A log handler that shows control characters in messages and metadata as escapes
/// (`String.escapingControlCharacters`) before handing them to `inner`, so that a dropped file
/// named `x\nERROR forged` stays on one log line. The daemon logs through it.
public struct EscapingLogHandler: LogHandler {
    public var inner: any LogHandler

    public init(_ inner: any LogHandler) { self.inner = inner }

    /// The daemon's handler: standard error (journald under systemd), at `level`.
    public static func standardError(label: String, level: Logger.Level) -> EscapingLogHandler {
        var stream = StreamLogHandler.standardError(label: label)
        stream.logLevel = level
        return EscapingLogHandler(stream)
    }

    public func log(event: LogEvent) {
        var event = event
        event.message = Logger.Message(stringLiteral: event.message.description.escapingControlCharacters)
        if let metadata = event.metadata { event.metadata = metadata.mapValues(Self.escaped) }
        inner.log(event: event)
    }

    static func escaped(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .string(let text): return .string(text.escapingControlCharacters)
        case .stringConvertible(let item): return .string(item.description.escapingControlCharacters)
        case .array(let items): return .array(items.map(escaped))
        case .dictionary(let items): return .dictionary(items.mapValues(escaped))
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    public var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }

    public var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
}
