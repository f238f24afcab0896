#include <gtest/gtest.h>

#include <cstring>

#include "heed/io/torch_pickle.h"
#include "heed/io/zip_reader.h"
#include "io_test_util.h"

namespace heed::io {
namespace {

using testing::expect_error;
using testing::fixture;
using testing::write_temp;
using namespace std::string_literals;

std::span<const uint8_t> as_span(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Zero-filled storages, as many elements as asked (bounded).
std::shared_ptr<Storage> fake_storage(const std::string&, FileDType dtype, int64_t numel) {
  HEED_CHECK(numel <= (1 << 20), "fake storage too large");
  return Storage::allocate(size_t(numel) * dtype_size(loaded_dtype(dtype)), /*zero=*/true);
}

// Builds pickle programs opcode by opcode.
struct Pickle {
  std::string b = "\x80\x02";
  Pickle& op(char c) {
    b += c;
    return *this;
  }
  Pickle& str(const std::string& s) {
    const uint32_t n = uint32_t(s.size());
    b += 'X';
    b.append(reinterpret_cast<const char*>(&n), 4);
    b += s;
    return *this;
  }
  Pickle& int1(uint8_t v) {
    b += 'K';
    b += char(v);
    return *this;
  }
  Pickle& global(const std::string& m, const std::string& n) {
    b += 'c' + m + '\n' + n + '\n';
    return *this;
  }
  // {'w': _rebuild_tensor_v2(FloatStorage(numel), offset, (size,), (1,), False, OrderedDict())}
  static Pickle state_dict(uint8_t numel, uint8_t offset, uint8_t size) {
    Pickle p;
    p.op('}').op('(').str("w").global("torch._utils", "_rebuild_tensor_v2").op('(');
    p.op('(')
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .int1(numel)
        .op('t')
        .op('Q');
    p.int1(offset).int1(size).op('\x85').int1(1).op('\x85').op('\x89');
    p.global("collections", "OrderedDict").op(')').op('R').op('t').op('R').op('u').op('.');
    return p;
  }
};

TEST(TorchPickle, LoadsTorchSaveFixture) {
  const std::string path = fixture("torch_state_dict.bin");
  const auto file = load_torch_checkpoint(path);
  const auto expected = testing::read_json(fixture("expected.json"));
  std::vector<std::string> names;
  for (const auto& [name, _] : expected.items()) names.push_back(name);
  EXPECT_EQ(file.names, names);  // state dict insertion order
  for (const auto& [name, want] : expected.items())
    testing::expect_matches(file.at(name), want, name);
  EXPECT_TRUE(file.metadata.empty());
}

TEST(TorchPickle, KeepsViewsAndSharedStorages) {
  const std::string path = fixture("torch_state_dict.bin");
  const auto file = load_torch_checkpoint(path);
  const Tensor& tr = file.at("transposed");
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(tr.strides(), (std::vector<int64_t>{1, 5}));
  const Tensor& slice = file.at("slice");
  EXPECT_EQ(slice.offset(), 6);
  EXPECT_EQ(slice.strides(), (std::vector<int64_t>{5, 1}));
  EXPECT_EQ(slice.to_vector(), (std::vector<float>{6, 7, 8, 11, 12, 13}));
  // Tied weights: the same tensor; two views of one storage share it too.
  EXPECT_EQ(file.at("tied.embed").storage(), file.at("tied.decoder").storage());
  EXPECT_EQ(file.at("shared.head").storage(), file.at("shared.tail").storage());
  EXPECT_EQ(file.at("shared.tail").offset(), 4);
  // Stored data is viewed in place, read-only; f16 was widened into an owned copy.
  for (const char* name : {"0.weight", "bf16", "i64", "i32", "mask", "slice"}) {
    SCOPED_TRACE(name);
    EXPECT_FALSE(file.at(name).storage()->writable());
    EXPECT_TRUE(testing::points_into_mapping_of(file.at(name).raw_data(), path));
  }
  EXPECT_EQ(file.at("f16").dtype(), DType::F32);
  EXPECT_TRUE(file.at("f16").storage()->writable());
}

TEST(TorchPickle, InMemoryParseCopiesWithoutOwner) {
  const std::string bytes = read_file(fixture("torch_state_dict.bin"));
  const auto file = parse_torch_checkpoint(as_span(bytes), "mem.bin");
  EXPECT_TRUE(file.at("0.weight").storage()->writable());
  EXPECT_EQ(file.at("tied.embed").storage(), file.at("tied.decoder").storage());
  const auto mapped = load_torch_checkpoint(fixture("torch_state_dict.bin"));
  for (const auto& name : mapped.names)
    EXPECT_EQ(file.at(name).to_vector(), mapped.at(name).to_vector()) << name;
}

TEST(TorchPickle, RejectsLegacyAndCompressedFormats) {
  const std::string legacy = fixture("torch_legacy.bin");
  expect_error([&] { load_torch_checkpoint(legacy); },
               {legacy, "legacy (pre-1.6) torch format not supported"});
  const std::string deflated = fixture("torch_deflated.bin");
  expect_error([&] { load_torch_checkpoint(deflated); },
               {deflated, "data.pkl", "compressed (method 8)"});
  const std::string text = write_temp("text.bin", "hello, not a zip");
  expect_error([&] { load_torch_checkpoint(text); }, {text, "not a PyTorch zip checkpoint"});
}

TEST(TorchPickle, TruncatedZipNamesTheFile) {
  const std::string bytes = read_file(fixture("torch_state_dict.bin"));
  for (size_t n :
       {size_t(0), size_t(3), size_t(30), bytes.size() / 2, bytes.size() - 1, bytes.size() - 30}) {
    SCOPED_TRACE(n);
    const std::string path = write_temp("truncated.bin", bytes.substr(0, n));
    expect_error([&] { load_torch_checkpoint(path); }, {path});
    std::remove(path.c_str());
  }
  // Every prefix fails cleanly (no crash, no hang).
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(parse_torch_checkpoint(as_span(bytes.substr(0, n)), "cut"), Error);
}

TEST(TorchPickle, Zip64RecordInATinyFile) {
  // Found by fuzz_pickle: a zip64 locator in a file shorter than a zip64 record made the
  // bounds check underflow.
  const std::string bytes =
      "\x50\x4b\x03\x04\x00\x28\x90\x8a\x00\x71\x50\x4b\x06\x07\x00\x00\x00\x00\xf5\x13"
      "\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x50\x4b\x05\x06\x00\x00\x00\x00\x12\x00"
      "\x12\x00\xff\xff\xff\xff\x12\x0f\x00\x00\x00\x00"s;
  ASSERT_EQ(bytes.size(), 52u);
  expect_error([&] { parse_torch_checkpoint(as_span(bytes), "tiny.bin"); },
               {"tiny.bin", "zip64 end-of-central-directory record"});
}

TEST(TorchPickle, BadOpcodeInZipNamesTheFile) {
  std::string bytes = read_file(fixture("torch_state_dict.bin"));
  const ZipReader zip(as_span(bytes), "fixture");
  const auto pkl = zip.data(*zip.find("torch_state_dict/data.pkl"));
  const size_t at =
      size_t(pkl.data() - reinterpret_cast<const uint8_t*>(bytes.data())) + 2;  // after PROTO 2
  bytes[at] = '\xff';
  const std::string path = write_temp("bad_opcode.bin", bytes);
  expect_error([&] { load_torch_checkpoint(path); },
               {path, "data.pkl byte 2", "unsupported pickle opcode 0xff"});
}

TEST(TorchPickle, MissingStorageRecord) {
  std::string bytes = read_file(fixture("torch_state_dict.bin"));
  const ZipReader zip(as_span(bytes), "fixture");
  // Rename the record "data/0" in the central directory to "data/X".
  const std::string name = "torch_state_dict/data/0";
  const size_t cd = bytes.rfind(name);
  ASSERT_NE(cd, std::string::npos);
  bytes[cd + name.size() - 1] = 'X';
  const std::string path = write_temp("missing_storage.bin", bytes);
  expect_error([&] { load_torch_checkpoint(path); }, {path, "storage '0'", "data/0"});
}

TEST(TorchPickle, PickleSubsetAcceptsAHandWrittenStateDict) {
  const auto items = unpickle_state_dict(as_span(Pickle::state_dict(8, 2, 5).b), "p", fake_storage);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].first, "w");
  EXPECT_EQ(items[0].second.shape(), (Shape{5}));
  EXPECT_EQ(items[0].second.offset(), 2);
}

TEST(TorchPickle, MalformedPicklesAreErrors) {
  struct Case {
    const char* label;
    std::string code;
    std::string needle;
  };
  std::string deep = "\x80\x02)";
  deep.append(200000, '\x85');  // tuple nested 200k deep: no recursion anywhere
  deep += '.';
  std::string marks = "\x80\x02" + std::string(70000, '(');
  const std::vector<Case> cases = {
      {"bad_opcode", "\x80\x02\xfe", "unsupported pickle opcode 0xfe"},
      {"underflow", "\x80\x02.", "stack underflow"},
      {"underflow_below_mark", "\x80\x02K\x01(0", "stack underflow"},
      {"memo_miss", "\x80\x02h\x05.", "memo has no entry 5"},
      {"no_stop", "\x80\x02}", "without STOP"},
      {"truncated_string",
       "\x80\x02X\xff\x00\x00\x00"
       "ab"s,
       "runs past the end"},
      {"truncated_int", "\x80\x02J\x01", "truncated"},
      {"unknown_global", Pickle().global("os", "system").b, "unsupported global 'os.system'"},
      {"unterminated_global",
       "\x80\x02"
       "cos\nsys",
       "unterminated GLOBAL"},
      {"bad_protocol", "\x80\x09", "protocol 9"},
      {"not_a_dict", "\x80\x02K\x01.", "is an int, expected a state dict"},
      {"non_tensor_value", "\x80\x02}X\x01\x00\x00\x00kK\x01s."s, "'k' is an int, not a tensor"},
      {"deep_nesting", deep, "is a tuple"},
      {"too_many_marks", marks, "nested MARKs"},
      {"self_cycle",
       "\x80\x02]q\x00h\x00"
       "a."s,
       "is a list"},
      {"odd_setitems", "\x80\x02}(K\x01u.", "odd number"},
      {"view_out_of_range", Pickle::state_dict(4, 0, 10).b, "reaches element 9 of a storage of 4"},
      {"offset_out_of_range", Pickle::state_dict(4, 9, 0).b, "storage offset 9 outside"},
      {"call_storage", Pickle().global("torch", "FloatStorage").op(')').op('R').op('.').b,
       "cannot be called"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    expect_error([&] { unpickle_state_dict(as_span(c.code), "ckpt.bin", fake_storage); },
                 {"ckpt.bin", c.needle});
  }
}

TEST(TorchPickle, CorruptedFixturePicklesFailCleanly) {
  // Every prefix and many single-byte corruptions of a real data.pkl either load or
  // throw heed::Error (ASan/UBSan builds check there is no memory error).
  const std::string bytes = read_file(fixture("torch_state_dict.bin"));
  const ZipReader zip(as_span(bytes), "fixture");
  const auto pkl = zip.data(*zip.find("torch_state_dict/data.pkl"));
  const std::string code(reinterpret_cast<const char*>(pkl.data()), pkl.size());
  for (size_t n = 0; n < code.size(); ++n)
    EXPECT_THROW(unpickle_state_dict(as_span(code.substr(0, n)), "cut", fake_storage), Error) << n;
  for (size_t i = 0; i < code.size(); ++i) {
    for (char v : {'\0', '\x7f', '\xff', 'h', '(', '0'}) {
      std::string bad = code;
      bad[i] = v;
      try {
        unpickle_state_dict(as_span(bad), "flip", fake_storage);
      } catch (const Error&) {
      }
    }
  }
}

}  // namespace
}  // namespace heed::io
