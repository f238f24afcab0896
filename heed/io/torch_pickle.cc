#include "heed/io/torch_pickle.h"

#include <cstring>
#include <deque>
#include <map>
#include <unordered_map>

#include "heed/base/error.h"
#include "heed/base/mmap.h"
#include "heed/io/zip_reader.h"

namespace heed::io {

namespace {

// ---------------------------------------------------------------- pickle machine
// Opcodes from CPython Lib/pickletools.py; only what torch.save emits for a state dict.
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  BINFLOAT = 'G',
  BININT = 'J',
  BININT1 = 'K',
  BININT2 = 'M',
  NONE = 'N',
  BINPERSID = 'Q',
  REDUCE = 'R',
  BINUNICODE = 'X',
  EMPTY_LIST = ']',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  APPENDS = 'e',
  BINGET = 'h',
  LONG_BINGET = 'j',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  SETITEMS = 'u',
  EMPTY_DICT = '}',
  EMPTY_TUPLE = ')',
  PROTO = 0x80,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
};

// Bounds on untrusted input: the value stack and the mark stack.
constexpr size_t kMaxStack = size_t(1) << 20;
constexpr size_t kMaxMarks = size_t(1) << 16;
constexpr int kMaxDims = 64;

enum class Kind : uint8_t {
  None,
  Bool,
  Int,
  Float,
  Str,
  Tuple,
  List,
  Dict,
  Global,
  Storage,
  Tensor
};

const char* kind_name(Kind k) {
  static constexpr const char* kNames[] = {"None",     "a bool",    "an int",  "a float",
                                           "a str",    "a tuple",   "a list",  "a dict",
                                           "a global", "a storage", "a tensor"};
  return kNames[static_cast<size_t>(k)];
}

// Objects live in the machine's arena and refer to each other by raw pointer, so cyclic
// or deeply nested input can neither leak nor overflow the stack on destruction.
struct Obj {
  Kind kind = Kind::None;
  int64_t i = 0;                     // Int, Bool
  double f = 0;                      // Float
  std::string s;                     // Str; Global as "module.name"
  std::vector<Obj*> items;           // Tuple, List; Dict as key, value, key, value, ...
  std::shared_ptr<Storage> storage;  // Storage
  FileDType storage_dtype = FileDType::F32;
  int64_t storage_numel = 0;
  Tensor tensor;  // Tensor
};

struct StorageType {
  std::string_view global;
  FileDType dtype;
};
constexpr StorageType kStorageTypes[] = {
    {"torch.FloatStorage", FileDType::F32},     {"torch.HalfStorage", FileDType::F16},
    {"torch.BFloat16Storage", FileDType::BF16}, {"torch.DoubleStorage", FileDType::F64},
    {"torch.LongStorage", FileDType::I64},      {"torch.IntStorage", FileDType::I32},
    {"torch.ShortStorage", FileDType::I16},     {"torch.CharStorage", FileDType::I8},
    {"torch.ByteStorage", FileDType::U8},       {"torch.BoolStorage", FileDType::BOOL},
};
constexpr std::string_view kOrderedDict = "collections.OrderedDict";
constexpr std::string_view kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildTensor = "torch._utils._rebuild_tensor";
constexpr std::string_view kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr std::string_view kRebuildParameterWithState =
    "torch._utils._rebuild_parameter_with_state";

class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> code, const std::string& path, const StorageLoader& load)
      : code_(code), path_(path), load_(load) {}

  Obj* run();

 private:
  template <class... Args>
  [[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) const {
    HEED_FAIL("{}: data.pkl byte {}: {}", path_, op_pos_,
              fmt::format(f, std::forward<Args>(args)...));
  }

  const uint8_t* take(size_t n) {
    if (code_.size() - pos_ < n) fail("truncated pickle (needs {} more bytes)", n);
    const uint8_t* p = code_.data() + pos_;
    pos_ += n;
    return p;
  }
  template <class T>
  T read() {  // little-endian
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string read_string(uint64_t n) {
    if (n > code_.size() - pos_) fail("string of {} bytes runs past the end", n);
    return std::string(reinterpret_cast<const char*>(take(size_t(n))), size_t(n));
  }
  std::string read_line() {
    const size_t start = pos_;
    while (pos_ < code_.size() && code_[pos_] != '\n') ++pos_;
    if (pos_ == code_.size()) fail("unterminated GLOBAL line");
    return std::string(reinterpret_cast<const char*>(code_.data()) + start, pos_++ - start);
  }

  Obj* make(Kind k) {
    Obj& o = arena_.emplace_back();
    o.kind = k;
    return &o;
  }
  Obj* make_int(int64_t v) {
    Obj* o = make(Kind::Int);
    o->i = v;
    return o;
  }
  void push(Obj* o) {
    if (stack_.size() >= kMaxStack) fail("pickle stack deeper than {}", kMaxStack);
    stack_.push_back(o);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Obj* pop() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    Obj* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Obj* top() {
    if (stack_.size() <= floor()) fail("pickle stack underflow");
    return stack_.back();
  }
  std::vector<Obj*> pop_mark() {
    if (marks_.empty()) fail("no MARK on the pickle stack");
    std::vector<Obj*> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  Obj* tuple(std::vector<Obj*> items) {
    Obj* t = make(Kind::Tuple);
    t->items = std::move(items);
    return t;
  }
  Obj* expect(Obj* o, Kind k, const char* what) {
    if (o->kind != k) fail("{} must be {}, got {}", what, kind_name(k), kind_name(o->kind));
    return o;
  }
  int64_t as_int(Obj* o, const char* what) {
    if (o->kind != Kind::Int && o->kind != Kind::Bool)
      fail("{} must be an int, got {}", what, kind_name(o->kind));
    return o->i;
  }
  void memo_put(uint64_t index) { memo_[index] = top(); }
  Obj* memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail("memo has no entry {}", index);
    return it->second;
  }

  Obj* global(const std::string& module, const std::string& name);
  Obj* reduce(Obj* callable, Obj* args);
  Obj* persistent_load(Obj* pid);
  Obj* rebuild_tensor(const std::vector<Obj*>& args);

  std::span<const uint8_t> code_;
  const std::string& path_;
  const StorageLoader& load_;
  size_t pos_ = 0, op_pos_ = 0;
  std::deque<Obj> arena_;
  std::vector<Obj*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Obj*> memo_;
  std::map<std::string, Obj*> storages_;  // by key: tied weights share one storage
};

Obj* Unpickler::global(const std::string& module, const std::string& name) {
  const std::string full = module + "." + name;
  bool known = full == kOrderedDict || full == kRebuildTensorV2 || full == kRebuildTensor ||
               full == kRebuildParameter || full == kRebuildParameterWithState;
  for (const StorageType& st : kStorageTypes) known = known || full == st.global;
  if (!known) fail("unsupported global '{}' (only torch state dicts of tensors can be read)", full);
  Obj* g = make(Kind::Global);
  g->s = full;
  return g;
}

Obj* Unpickler::persistent_load(Obj* pid) {
  // torch/serialization.py `persistent_id`: ('storage', storage_type, key, location, numel).
  expect(pid, Kind::Tuple, "persistent id");
  if (pid->items.size() != 5 || pid->items[0]->kind != Kind::Str || pid->items[0]->s != "storage")
    fail("persistent id must be ('storage', type, key, location, numel)");
  const Obj* type = expect(pid->items[1], Kind::Global, "storage type");
  const std::string& key = expect(pid->items[2], Kind::Str, "storage key")->s;
  const int64_t numel = as_int(pid->items[4], "storage size");
  const StorageType* st = nullptr;
  for (const StorageType& s : kStorageTypes)
    if (type->s == s.global) st = &s;
  if (!st) fail("'{}' is not a storage type", type->s);
  if (numel < 0) fail("storage '{}' has negative size {}", key, numel);

  auto it = storages_.find(key);
  if (it != storages_.end()) {
    Obj* prev = it->second;
    if (prev->storage_dtype != st->dtype || prev->storage_numel != numel)
      fail("storage '{}' is referenced as both {}x{} and {}x{}", key,
           file_dtype_name(prev->storage_dtype), prev->storage_numel, file_dtype_name(st->dtype),
           numel);
    return prev;
  }
  Obj* o = make(Kind::Storage);
  o->storage = load_(key, st->dtype, numel);
  o->storage_dtype = st->dtype;
  o->storage_numel = numel;
  const auto nbytes = checked_mul(numel, int64_t(dtype_size(loaded_dtype(st->dtype))));
  if (!o->storage || !nbytes || o->storage->nbytes() < uint64_t(*nbytes))
    fail("storage '{}' is smaller than its {} elements", key, numel);
  storages_.emplace(key, o);
  return o;
}

Obj* Unpickler::rebuild_tensor(const std::vector<Obj*>& args) {
  // torch/_utils.py: _rebuild_tensor_v2(storage, storage_offset, size, stride,
  // requires_grad, backward_hooks[, metadata]); requires_grad and hooks do not apply here.
  if (args.size() < 4) fail("tensor rebuild takes at least 4 arguments, got {}", args.size());
  const Obj* st = expect(args[0], Kind::Storage, "tensor storage");
  const int64_t offset = as_int(args[1], "storage offset");
  const Obj* size = expect(args[2], Kind::Tuple, "tensor size");
  const Obj* stride = expect(args[3], Kind::Tuple, "tensor stride");
  if (size->items.size() != stride->items.size())
    fail("tensor size has {} dims but stride has {}", size->items.size(), stride->items.size());
  if (size->items.size() > kMaxDims)
    fail("tensor has {} dims (limit {})", size->items.size(), kMaxDims);
  if (offset < 0 || offset > st->storage_numel)
    fail("storage offset {} outside a storage of {} elements", offset, st->storage_numel);

  std::vector<int64_t> dims, strides;
  std::optional<int64_t> numel = 1;
  int64_t last = offset;  // highest element index touched
  for (size_t d = 0; d < size->items.size(); ++d) {
    const int64_t n = as_int(size->items[d], "tensor size");
    const int64_t s = as_int(stride->items[d], "tensor stride");
    if (n < 0 || s < 0) fail("negative size {} or stride {} in dim {}", n, s, d);
    numel = numel ? checked_mul(*numel, n) : numel;
    if (!numel) fail("tensor size overflows");
    dims.push_back(n);
    strides.push_back(s);
  }
  if (*numel > 0) {
    for (size_t d = 0; d < dims.size(); ++d) {
      auto span = checked_mul(dims[d] - 1, strides[d]);
      if (!span || __builtin_add_overflow(last, *span, &last)) fail("tensor extent overflows");
    }
    if (last >= st->storage_numel)
      fail("tensor view reaches element {} of a storage of {} elements", last, st->storage_numel);
  }
  Tensor base =
      Tensor::from_storage(st->storage, Shape{st->storage_numel}, loaded_dtype(st->storage_dtype));
  Obj* t = make(Kind::Tensor);
  t->tensor = base.as_strided(Shape(std::move(dims)), std::move(strides), offset);
  return t;
}

Obj* Unpickler::reduce(Obj* callable, Obj* args) {
  expect(callable, Kind::Global, "REDUCE callable");
  expect(args, Kind::Tuple, "REDUCE arguments");
  const std::string& f = callable->s;
  if (f == kOrderedDict) {
    if (!args->items.empty()) fail("OrderedDict() with arguments is not supported");
    return make(Kind::Dict);
  }
  if (f == kRebuildTensorV2 || f == kRebuildTensor) return rebuild_tensor(args->items);
  if (f == kRebuildParameter || f == kRebuildParameterWithState) {
    // _rebuild_parameter(data, requires_grad, backward_hooks[, state]): the data tensor.
    if (args->items.empty()) fail("{} without arguments", f);
    return expect(args->items[0], Kind::Tensor, "parameter data");
  }
  fail("'{}' cannot be called", f);
}

Obj* Unpickler::run() {
  while (pos_ < code_.size()) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case PROTO: {
        const uint8_t v = read<uint8_t>();
        if (v > 5) fail("unsupported pickle protocol {}", v);
        break;
      }
      case FRAME:
        read<uint64_t>();
        break;  // frames only batch reads
      case STOP:
        return pop();
      case MARK:
        if (marks_.size() >= kMaxMarks) fail("more than {} nested MARKs", kMaxMarks);
        marks_.push_back(stack_.size());
        break;
      case POP:
        pop();
        break;
      case POP_MARK:
        pop_mark();
        break;
      case DUP:
        push(top());
        break;
      case NONE:
        push(make(Kind::None));
        break;
      case NEWTRUE:
      case NEWFALSE: {
        Obj* b = make(Kind::Bool);
        b->i = op == NEWTRUE;
        push(b);
        break;
      }
      case BININT:
        push(make_int(read<int32_t>()));
        break;
      case BININT1:
        push(make_int(read<uint8_t>()));
        break;
      case BININT2:
        push(make_int(read<uint16_t>()));
        break;
      case LONG1: {
        const uint8_t n = read<uint8_t>();
        if (n > 8) fail("LONG1 of {} bytes does not fit in 64 bits", n);
        uint64_t v = 0;
        const uint8_t* p = take(n);
        for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
        push(make_int(int64_t(v)));
        break;
      }
      case BINFLOAT: {
        uint64_t bits = 0;
        const uint8_t* p = take(8);
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];  // big-endian
        Obj* o = make(Kind::Float);
        std::memcpy(&o->f, &bits, 8);
        push(o);
        break;
      }
      case SHORT_BINUNICODE:
      case BINUNICODE:
      case BINUNICODE8: {
        const uint64_t n = op == SHORT_BINUNICODE ? read<uint8_t>()
                           : op == BINUNICODE     ? read<uint32_t>()
                                                  : read<uint64_t>();
        Obj* s = make(Kind::Str);
        s->s = read_string(n);
        push(s);
        break;
      }
      case EMPTY_TUPLE:
        push(tuple({}));
        break;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        std::vector<Obj*> items(size_t(op - TUPLE1 + 1));
        for (size_t k = items.size(); k-- > 0;) items[k] = pop();
        push(tuple(std::move(items)));
        break;
      }
      case TUPLE:
        push(tuple(pop_mark()));
        break;
      case EMPTY_LIST:
        push(make(Kind::List));
        break;
      case EMPTY_DICT:
        push(make(Kind::Dict));
        break;
      case APPEND: {
        Obj* v = pop();
        expect(top(), Kind::List, "APPEND target")->items.push_back(v);
        break;
      }
      case APPENDS: {
        std::vector<Obj*> vs = pop_mark();
        Obj* list = expect(top(), Kind::List, "APPENDS target");
        list->items.insert(list->items.end(), vs.begin(), vs.end());
        break;
      }
      case SETITEM: {
        Obj* v = pop();
        Obj* k = pop();
        Obj* d = expect(top(), Kind::Dict, "SETITEM target");
        d->items.push_back(k);
        d->items.push_back(v);
        break;
      }
      case SETITEMS: {
        std::vector<Obj*> kv = pop_mark();
        if (kv.size() % 2) fail("SETITEMS with an odd number ({}) of items", kv.size());
        Obj* d = expect(top(), Kind::Dict, "SETITEMS target");
        d->items.insert(d->items.end(), kv.begin(), kv.end());
        break;
      }
      case GLOBAL: {
        std::string module = read_line();
        std::string name = read_line();
        push(global(module, name));
        break;
      }
      case STACK_GLOBAL: {
        Obj* name = expect(pop(), Kind::Str, "STACK_GLOBAL name");
        Obj* module = expect(pop(), Kind::Str, "STACK_GLOBAL module");
        push(global(module->s, name->s));
        break;
      }
      case REDUCE: {
        Obj* args = pop();
        Obj* callable = pop();
        push(reduce(callable, args));
        break;
      }
      case BUILD:
        // OrderedDict state ({'_metadata': ...} of nn.Module.state_dict): not needed.
        pop();
        top();
        break;
      case BINPERSID:
        push(persistent_load(pop()));
        break;
      case BINPUT:
        memo_put(read<uint8_t>());
        break;
      case LONG_BINPUT:
        memo_put(read<uint32_t>());
        break;
      case MEMOIZE:
        memo_put(memo_.size());
        break;
      case BINGET:
        push(memo_get(read<uint8_t>()));
        break;
      case LONG_BINGET:
        push(memo_get(read<uint32_t>()));
        break;
      default:
        fail("unsupported pickle opcode 0x{:02x}", op);
    }
  }
  op_pos_ = pos_;
  fail("pickle ended without STOP");
}

}  // namespace

std::vector<std::pair<std::string, Tensor>> unpickle_state_dict(std::span<const uint8_t> pickle,
                                                                const std::string& path,
                                                                const StorageLoader& load_storage) {
  Unpickler machine(pickle, path, load_storage);
  const Obj* root = machine.run();
  HEED_CHECK(root->kind == Kind::Dict,
             "{}: the pickled object is {}, expected a state dict (a dict of tensors)", path,
             kind_name(root->kind));
  std::vector<std::pair<std::string, Tensor>> out;
  std::unordered_map<std::string, size_t> index;
  for (size_t k = 0; k < root->items.size(); k += 2) {
    const Obj* key = root->items[k];
    const Obj* value = root->items[k + 1];
    HEED_CHECK(key->kind == Kind::Str, "{}: state dict key {} is {}, expected a str", path, k / 2,
               kind_name(key->kind));
    HEED_CHECK(value->kind == Kind::Tensor,
               "{}: state dict entry '{}' is {}, not a tensor (save model.state_dict() alone)",
               path, key->s, kind_name(value->kind));
    auto [it, fresh] = index.emplace(key->s, out.size());
    if (fresh) {
      out.emplace_back(key->s, value->tensor);
    } else {
      out[it->second].second = value->tensor;  // a repeated key keeps the last value, as Python
    }
  }
  return out;
}

// ---------------------------------------------------------------- zip container

TensorFile parse_torch_checkpoint(std::span<const uint8_t> bytes, const std::string& path,
                                  std::shared_ptr<const void> owner) {
  const bool zip = bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K' &&
                   ((bytes[2] == 3 && bytes[3] == 4) || (bytes[2] == 5 && bytes[3] == 6));
  if (!zip) {
    // The legacy format is a bare pickle stream (starts with PROTO); older ones were tar.
    HEED_CHECK(bytes.empty() || bytes[0] != PROTO,
               "{}: legacy (pre-1.6) torch format not supported; re-save with torch>=1.6", path);
    HEED_FAIL("{}: not a PyTorch zip checkpoint (no zip signature; {} bytes)", path, bytes.size());
  }
  const ZipReader archive(bytes, path);

  // Records live under one top folder whose name varies ("archive", the file stem, ...).
  const ZipReader::Entry* pkl = nullptr;
  std::string prefix;
  for (const auto& e : archive.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos &&
        e.name.compare(slash + 1, std::string::npos, "data.pkl") == 0) {
      pkl = &e;
      prefix = e.name.substr(0, slash + 1);
      break;
    }
  }
  HEED_CHECK(pkl != nullptr, "{}: torch zip checkpoint has no <dir>/data.pkl record", path);
  if (const auto* order = archive.find(prefix + "byteorder")) {
    auto d = archive.data(*order);
    HEED_CHECK(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()) == "little",
               "{}: big-endian torch checkpoints are not supported", path);
  }

  StorageLoader load = [&](const std::string& key, FileDType dtype, int64_t numel) {
    const auto* e = archive.find(prefix + "data/" + key);
    HEED_CHECK(e != nullptr, "{}: storage '{}' has no record {}data/{}", path, key, prefix, key);
    const auto data = archive.data(*e);
    const auto need = checked_mul(numel, int64_t(file_dtype_size(dtype)));
    HEED_CHECK(need.has_value() && uint64_t(*need) <= data.size(),
               "{}: storage '{}' holds {} bytes but the pickle expects {} elements of {}", path,
               key, data.size(), numel, file_dtype_name(dtype));
    return load_storage(data.data(), numel, dtype, owner);
  };
  auto items = unpickle_state_dict(archive.data(*pkl), path, load);

  TensorFile out;
  out.path = path;
  for (auto& [name, t] : items) {
    out.names.push_back(name);
    out.tensors.emplace(name, std::move(t));
  }
  return out;
}

TensorFile load_torch_checkpoint(const std::string& path) {
  auto file = MappedFile::open(path);
  std::span<const uint8_t> bytes(file->data(), file->size());
  return parse_torch_checkpoint(bytes, path, std::move(file));
}

}  // namespace heed::io
