//! Compression codecs: the `-Z` specification, streaming encoders and decoders.
//!
//! The specification syntax is pg_dump 16's (`none`, a bare level, `gzip:5`,
//! `zstd:level=19`, ...) so scripts keep working when they switch tools.
//! Defaults are normalised away at parse time: a parsed `Codec` carries the level
//! that will actually be used, and `Display` prints it back in canonical form.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Read-side buffer: big reads keep syscalls rare and feed decoders whole blocks.
pub const READ_BUFFER_SIZE: usize = 256 * 1024;

/// lz4 frame block size: bigger than the 64 KiB default so large tables cost fewer
/// block headers; blocks stay independent so a decoder needs one block of memory.
const LZ4_BLOCK_SIZE: lz4_flex::frame::BlockSize = lz4_flex::frame::BlockSize::Max256KB;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    None,
    Gzip,
    Zstd,
    Lz4,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::None, Method::Gzip, Method::Zstd, Method::Lz4];

    pub fn name(self) -> &'static str {
        match self {
            Method::None => "none",
            Method::Gzip => "gzip",
            Method::Zstd => "zstd",
            Method::Lz4 => "lz4",
        }
    }

    /// File name suffix of streams in this format ("" for none).
    pub fn extension(self) -> &'static str {
        match self {
            Method::None => "",
            Method::Gzip => ".gz",
            Method::Zstd => ".zst",
            Method::Lz4 => ".lz4",
        }
    }

    /// The level used when the specification names none.
    pub fn default_level(self) -> i32 {
        match self {
            Method::None => 0,
            // zlib's Z_DEFAULT_COMPRESSION means 6.
            Method::Gzip => 6,
            Method::Zstd => zstd::DEFAULT_COMPRESSION_LEVEL,
            // lz4's "fast mode", as pg_dump records it.
            Method::Lz4 => 0,
        }
    }

    /// Levels accepted in a specification (besides the method's default).
    pub fn level_range(self) -> RangeInclusive<i32> {
        match self {
            Method::None => 0..=0,
            Method::Gzip => 1..=9,
            // Negative levels are zstd's "fast" levels.
            Method::Zstd => zstd::compression_level_range(),
            // lz4_flex implements only lz4's fast mode: levels are accepted for
            // pg_dump compatibility and recorded, but all compress alike.
            Method::Lz4 => 1..=12,
        }
    }

    /// A streaming decoder over a buffered reader. The concrete type lets a caller
    /// get the underlying reader back (see [`Decoder::get_mut`]).
    pub fn buf_decoder<R: BufRead>(self, r: R) -> io::Result<Decoder<R>> {
        Ok(match self {
            Method::None => Decoder::None(r),
            Method::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(r)),
            Method::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(r)?),
            Method::Lz4 => Decoder::Lz4(lz4_flex::frame::FrameDecoder::new(r)),
        })
    }

    /// A streaming decoder yielding the raw bytes of `r`. Corrupt input ends in
    /// an `io::Error`; a stream that simply stops early may end in `Ok(0)`, so
    /// callers that need certainty compare sizes (see `data_file::open_verified`).
    pub fn decoder<'a, R: Read + 'a>(self, r: R) -> io::Result<Box<dyn Read + 'a>> {
        Ok(Box::new(self.buf_decoder(BufReader::with_capacity(
            READ_BUFFER_SIZE,
            r,
        ))?))
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = InvalidCodec;
    fn from_str(s: &str) -> Result<Self, InvalidCodec> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| InvalidCodec(format!("unrecognized compression algorithm: \"{s}\"")))
    }
}

/// A compression method and level. `level: None` means the method's default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Codec {
    pub method: Method,
    pub level: Option<i32>,
}

/// A `-Z` specification that cannot be used; the message is ready for the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCodec(pub String);

fn invalid_spec(detail: impl fmt::Display) -> InvalidCodec {
    InvalidCodec(format!("invalid compression specification: {detail}"))
}

impl Codec {
    pub const NONE: Codec = Codec {
        method: Method::None,
        level: None,
    };

    /// A checked codec with the level normalised (`None` or a method's
    /// "default" alias becomes the concrete default level).
    pub fn new(method: Method, level: Option<i32>) -> Result<Codec, InvalidCodec> {
        Codec { method, level }.checked()
    }

    /// The level the encoder will use.
    pub fn effective_level(self) -> i32 {
        self.level.unwrap_or(self.method.default_level())
    }

    /// The default level of this codec's method.
    pub fn default_level(self) -> i32 {
        self.method.default_level()
    }

    /// Validates the level for the method and normalises it (see [`Codec::new`]).
    pub fn checked(self) -> Result<Codec, InvalidCodec> {
        let method = self.method;
        if method == Method::None {
            return match self.level {
                None | Some(0) => Ok(Codec::NONE),
                Some(_) => Err(invalid_spec(
                    "compression algorithm \"none\" does not accept a compression level",
                )),
            };
        }
        let level = match (method, self.level) {
            (_, None) => method.default_level(),
            // The aliases pg_dump accepts for "the default": zlib's -1, zstd's 0.
            (Method::Gzip, Some(-1)) | (Method::Zstd, Some(0)) => method.default_level(),
            (_, Some(l)) if l == method.default_level() || method.level_range().contains(&l) => l,
            (_, Some(_)) => {
                let range = method.level_range();
                return Err(invalid_spec(format_args!(
                    "compression algorithm \"{method}\" expects a compression level between {} and {} (default {})",
                    range.start(),
                    range.end(),
                    method.default_level()
                )));
            }
        };
        Ok(Codec {
            method,
            level: Some(level),
        })
    }

    /// A streaming encoder writing the compressed form of what it is given to `w`.
    /// Call [`Encoder::finish`] to complete the stream.
    pub fn encoder<W: Write>(self, w: W) -> io::Result<Encoder<W>> {
        let codec = self
            .checked()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let level = codec.effective_level();
        Ok(match codec.method {
            Method::None => Encoder::None(w),
            Method::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                w,
                // `checked` limited the level to 1..=9.
                flate2::Compression::new(level.unsigned_abs()),
            )),
            Method::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(w, level)?),
            Method::Lz4 => Encoder::Lz4(lz4_flex::frame::FrameEncoder::with_frame_info(
                lz4_flex::frame::FrameInfo::new()
                    .block_size(LZ4_BLOCK_SIZE)
                    .block_mode(lz4_flex::frame::BlockMode::Independent),
                w,
            )),
        })
    }
}

impl Codec {
    /// A compressor of whole buffers (bundle members, WAL segments), keeping one
    /// codec context across calls so many small inputs do not pay its setup each.
    pub fn block_compressor(self) -> io::Result<BlockCompressor> {
        let codec = self
            .checked()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let zstd = match codec.method {
            Method::Zstd => Some(zstd::bulk::Compressor::new(codec.effective_level())?),
            _ => None,
        };
        Ok(BlockCompressor { codec, zstd })
    }
}

/// Compresses whole buffers into the same format [`Codec::encoder`] writes, so
/// [`Method::buf_decoder`] reads them back.
pub struct BlockCompressor {
    codec: Codec,
    /// zstd's one-shot API skips the streaming encoder's per-stream setup.
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl BlockCompressor {
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Replaces `out` with the compressed form of `raw`.
    pub fn compress(&mut self, raw: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        out.clear();
        if let Some(z) = self.zstd.as_mut() {
            out.reserve(zstd::zstd_safe::compress_bound(raw.len()));
            z.compress_to_buffer(raw, out)?;
            return Ok(());
        }
        let mut enc = self.codec.encoder(&mut *out)?;
        enc.write_all(raw)?;
        enc.finish()?;
        Ok(())
    }
}

impl fmt::Debug for BlockCompressor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockCompressor")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.method {
            Method::None => f.write_str("none"),
            m => write!(f, "{m}:{}", self.effective_level()),
        }
    }
}

/// Parses pg_dump 16's `-Z` spellings: `none`, a bare integer (0 = none,
/// otherwise gzip at that level), `METHOD`, `METHOD:LEVEL`, `METHOD:level=LEVEL`.
impl FromStr for Codec {
    type Err = InvalidCodec;

    fn from_str(spec: &str) -> Result<Self, InvalidCodec> {
        if let Ok(n) = spec.parse::<i64>() {
            return match n {
                0 => Ok(Codec::NONE),
                n => Codec::new(Method::Gzip, Some(level_from_i64(n)?)),
            };
        }
        let (name, detail) = match spec.split_once(':') {
            Some((name, detail)) => (name, Some(detail)),
            None => (spec, None),
        };
        let method: Method = name.parse()?;
        let level = match detail {
            None => None,
            Some(detail) => parse_detail(detail)?,
        };
        Codec::new(method, level)
    }
}

fn level_from_i64(n: i64) -> Result<i32, InvalidCodec> {
    i32::try_from(n)
        .map_err(|_| invalid_spec(format_args!("compression level {n} is out of range")))
}

/// The part after `METHOD:`: a bare level or comma-separated `keyword[=value]`
/// items. Returns the level, if one was given.
fn parse_detail(detail: &str) -> Result<Option<i32>, InvalidCodec> {
    if let Ok(n) = detail.parse::<i64>() {
        return level_from_i64(n).map(Some);
    }
    let mut level = None;
    for item in detail.split(',') {
        let (keyword, value) = match item.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (item, None),
        };
        match keyword {
            "" => {
                return Err(invalid_spec(
                    "found empty string where a compression option was expected",
                ))
            }
            "level" => {
                let value = value
                    .ok_or_else(|| invalid_spec("compression option \"level\" requires a value"))?;
                let n = value.parse::<i64>().map_err(|_| {
                    invalid_spec("value for compression option \"level\" must be an integer")
                })?;
                level = Some(level_from_i64(n)?);
            }
            "workers" | "long" => {
                return Err(invalid_spec(format_args!(
                    "compression option \"{keyword}\" is not supported by rdump"
                )))
            }
            other => {
                return Err(invalid_spec(format_args!(
                    "unrecognized compression option: \"{other}\""
                )))
            }
        }
    }
    Ok(level)
}

/// A streaming compressor over `W`.
pub enum Encoder<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Writes the end of the stream (trailer, end mark) and returns the writer,
    /// not flushed: the caller owns buffering and durability.
    pub fn finish(self) -> io::Result<W> {
        match self {
            Encoder::None(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Lz4(e) => e.finish().map_err(io::Error::from),
        }
    }

    pub fn get_ref(&self) -> &W {
        match self {
            Encoder::None(w) => w,
            Encoder::Gzip(e) => e.get_ref(),
            Encoder::Zstd(e) => e.get_ref(),
            Encoder::Lz4(e) => e.get_ref(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::None(w) => w.write(buf),
            Encoder::Gzip(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Lz4(e) => e.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.write_all(buf),
            Encoder::Gzip(e) => e.write_all(buf),
            Encoder::Zstd(e) => e.write_all(buf),
            Encoder::Lz4(e) => e.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::None(w) => w.flush(),
            Encoder::Gzip(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Lz4(e) => e.flush(),
        }
    }
}

/// A streaming decompressor over a buffered reader `R`.
pub enum Decoder<R: BufRead> {
    None(R),
    // Multi-member, like gunzip: a concatenation of gzip files is one stream.
    Gzip(flate2::bufread::MultiGzDecoder<R>),
    Zstd(zstd::stream::read::Decoder<'static, R>),
    Lz4(lz4_flex::frame::FrameDecoder<R>),
}

impl<R: BufRead> Decoder<R> {
    /// The underlying reader, e.g. to read what follows the end of the stream.
    pub fn get_mut(&mut self) -> &mut R {
        match self {
            Decoder::None(r) => r,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
            Decoder::Lz4(d) => d.get_mut(),
        }
    }

    pub fn method(&self) -> Method {
        match self {
            Decoder::None(_) => Method::None,
            Decoder::Gzip(_) => Method::Gzip,
            Decoder::Zstd(_) => Method::Zstd,
            Decoder::Lz4(_) => Method::Lz4,
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::None(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
            Decoder::Lz4(d) => d.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Codec {
        s.parse()
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn codec(method: Method, level: i32) -> Codec {
        Codec {
            method,
            level: Some(level),
        }
    }

    #[test]
    fn pg_dump_spellings_parse_to_normalised_codecs() {
        let cases = [
            ("none", Codec::NONE),
            ("0", Codec::NONE),
            ("none:0", Codec::NONE),
            ("1", codec(Method::Gzip, 1)),
            ("9", codec(Method::Gzip, 9)),
            ("-1", codec(Method::Gzip, 6)),
            ("gzip", codec(Method::Gzip, 6)),
            ("gzip:4", codec(Method::Gzip, 4)),
            ("gzip:level=9", codec(Method::Gzip, 9)),
            ("gzip:-1", codec(Method::Gzip, 6)),
            ("zstd", codec(Method::Zstd, 3)),
            ("zstd:0", codec(Method::Zstd, 3)),
            ("zstd:19", codec(Method::Zstd, 19)),
            ("zstd:22", codec(Method::Zstd, 22)),
            ("zstd:-5", codec(Method::Zstd, -5)),
            ("zstd:level=1", codec(Method::Zstd, 1)),
            ("zstd:level=2,level=7", codec(Method::Zstd, 7)),
            ("lz4", codec(Method::Lz4, 0)),
            ("lz4:0", codec(Method::Lz4, 0)),
            ("lz4:12", codec(Method::Lz4, 12)),
            ("lz4:level=3", codec(Method::Lz4, 3)),
        ];
        for (spec, want) in cases {
            assert_eq!(parse(spec), want, "{spec}");
        }
    }

    #[test]
    fn display_is_canonical_and_parses_back() {
        assert_eq!(parse("zstd").to_string(), "zstd:3");
        assert_eq!(parse("0").to_string(), "none");
        assert_eq!(parse("5").to_string(), "gzip:5");
        assert_eq!(parse("lz4").to_string(), "lz4:0");
        assert_eq!(
            Codec {
                method: Method::Gzip,
                level: None
            }
            .to_string(),
            "gzip:6"
        );
        for spec in [
            "none", "gzip:1", "gzip:9", "zstd:-7", "zstd:3", "zstd:22", "lz4:0", "lz4:9",
        ] {
            let c = parse(spec);
            assert_eq!(c.to_string(), spec);
            assert_eq!(parse(&c.to_string()), c);
        }
    }

    #[test]
    fn invalid_spellings_say_what_is_wrong() {
        let cases = [
            ("brotli", "unrecognized compression algorithm: \"brotli\""),
            ("", "unrecognized compression algorithm: \"\""),
            ("GZIP", "unrecognized compression algorithm"),
            ("10", "\"gzip\" expects a compression level between 1 and 9"),
            (
                "gzip:0",
                "\"gzip\" expects a compression level between 1 and 9",
            ),
            ("gzip:10", "between 1 and 9 (default 6)"),
            ("zstd:23", "\"zstd\" expects a compression level between"),
            (
                "lz4:13",
                "\"lz4\" expects a compression level between 1 and 12",
            ),
            ("lz4:-1", "\"lz4\" expects a compression level"),
            ("none:3", "\"none\" does not accept a compression level"),
            (
                "gzip:",
                "found empty string where a compression option was expected",
            ),
            (
                "gzip:level",
                "compression option \"level\" requires a value",
            ),
            ("gzip:level=x", "must be an integer"),
            ("gzip:fast", "unrecognized compression option: \"fast\""),
            ("zstd:long", "\"long\" is not supported"),
            ("zstd:workers=4", "\"workers\" is not supported"),
            ("99999999999", "out of range"),
            ("zstd:3x", "unrecognized compression option: \"3x\""),
        ];
        for (spec, want) in cases {
            let err = spec
                .parse::<Codec>()
                .expect_err(&format!("{spec:?} should be refused"))
                .to_string();
            assert!(err.contains(want), "{spec:?}: {err:?} lacks {want:?}");
        }
        assert!("gzip:0"
            .parse::<Codec>()
            .unwrap_err()
            .to_string()
            .starts_with("invalid compression specification: "));
    }

    #[test]
    fn serde_shape_is_stable() {
        let json = serde_json::to_string(&parse("zstd:5")).unwrap();
        assert_eq!(json, r#"{"method":"zstd","level":5}"#);
        assert_eq!(
            serde_json::from_str::<Codec>(&json).unwrap(),
            parse("zstd:5")
        );
        assert_eq!(Method::Zstd.extension(), ".zst");
        assert_eq!(Method::Gzip.extension(), ".gz");
        assert_eq!(Method::Lz4.extension(), ".lz4");
        assert_eq!(Method::None.extension(), "");
    }

    #[test]
    fn encoder_refuses_an_out_of_range_level() {
        let bad = Codec {
            method: Method::Gzip,
            level: Some(42),
        };
        let err = bad
            .encoder(Vec::new())
            .err()
            .expect("level 42 must be refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn every_method_round_trips_in_memory() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 1000).to_le_bytes())
            .collect();
        for method in Method::ALL {
            let mut enc = Codec::new(method, None)
                .unwrap()
                .encoder(Vec::new())
                .unwrap();
            for chunk in data.chunks(70_001) {
                enc.write_all(chunk).unwrap();
            }
            let stored = enc.finish().unwrap();
            if method != Method::None {
                assert!(stored.len() < data.len() / 4, "{method} did not compress");
            }
            let mut out = Vec::new();
            method
                .decoder(&stored[..])
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            assert!(out == data, "{method} changed the data");
        }
    }

    #[test]
    fn block_compressor_output_decodes_with_the_streaming_decoder() {
        let inputs: Vec<Vec<u8>> = (0..4u8)
            .map(|i| {
                (0..(5000 * i as usize + 3))
                    .map(|x| (x % 17) as u8 ^ i)
                    .collect()
            })
            .collect();
        for spec in ["zstd:3", "lz4", "gzip:1", "none"] {
            let mut block = parse(spec).block_compressor().unwrap();
            let mut packed = Vec::new();
            for raw in &inputs {
                block.compress(raw, &mut packed).unwrap();
                let mut out = Vec::new();
                block
                    .codec()
                    .method
                    .decoder(&packed[..])
                    .unwrap()
                    .read_to_end(&mut out)
                    .unwrap();
                assert!(&out == raw, "{spec}");
            }
        }
    }
}
