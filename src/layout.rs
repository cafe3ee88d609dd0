//! How a record is shared between Rust and WGSL: the `shared_struct!` macro declares a
//! `#[repr(C)]` struct and, from the same field list, what its WGSL declaration needs; plus
//! binding declarations. A leaf: the contract itself (`crate::abi`) is built on it.

/// A Rust type with a WGSL twin of the same size and alignment inside a shared record.
pub trait Wgsl: bytemuck::Pod {
    /// The WGSL type name.
    const TYPE: &'static str;
}

impl Wgsl for u32 {
    const TYPE: &'static str = "u32";
}
impl Wgsl for f32 {
    const TYPE: &'static str = "f32";
}
impl Wgsl for [u32; 4] {
    const TYPE: &'static str = "vec4<u32>";
}
impl Wgsl for [f32; 4] {
    const TYPE: &'static str = "vec4<f32>";
}

/// One member of a shared record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// Field name (the same in Rust and WGSL).
    pub name: &'static str,
    /// WGSL type.
    pub wgsl: &'static str,
    /// Byte offset in the Rust struct.
    pub offset: usize,
    /// Byte size.
    pub size: usize,
}

/// A `#[repr(C)]` record the host and the kernels share.
pub trait SharedStruct: bytemuck::Pod {
    /// The struct's name (the same in Rust and WGSL).
    const NAME: &'static str;
    /// Its members in declaration order.
    fn members() -> Vec<Member>;
}

/// Declares a `#[repr(C)]`, Pod record shared with the kernels, and its [`SharedStruct`] impl
/// from the same field list. Fields are `u32`, `f32`, `[u32; 4]` or `[f32; 4]`.
macro_rules! shared_struct {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $crate::layout::SharedStruct for $name {
            const NAME: &'static str = stringify!($name);
            fn members() -> Vec<$crate::layout::Member> {
                vec![$($crate::layout::Member {
                    name: stringify!($field),
                    wgsl: <$ty as $crate::layout::Wgsl>::TYPE,
                    offset: std::mem::offset_of!($name, $field),
                    size: std::mem::size_of::<$ty>(),
                },)*]
            }
        }
    };
}
pub(crate) use shared_struct;

/// The WGSL declaration of `T`.
pub fn declaration<T: SharedStruct>() -> String {
    let fields: String = T::members().iter().map(|m| format!("    {}: {},\n", m.name, m.wgsl)).collect();
    format!("struct {} {{\n{fields}}}\n", T::NAME)
}

/// A WGSL function `fn name() -> T` returning `value`, member by member (the kernels' copy of a
/// Rust constant record, e.g. a fresh chain state).
pub fn constant_fn<T: SharedStruct>(name: &str, value: &T) -> String {
    let bytes = bytemuck::bytes_of(value);
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let scalar = |ty: &str, at: usize| match ty {
        "f32" => format!("bitcast<f32>({}u)", word(at)),
        _ => format!("{}u", word(at)),
    };
    let mut body = format!("fn {name}() -> {} {{\n    var r: {};\n", T::NAME, T::NAME);
    for m in T::members() {
        let v = match m.wgsl {
            "vec4<u32>" | "vec4<f32>" => {
                let ty = &m.wgsl[5..8];
                let parts: Vec<String> = (0..4).map(|k| scalar(ty, m.offset + 4 * k)).collect();
                format!("{}({})", m.wgsl, parts.join(", "))
            }
            ty => scalar(ty, m.offset),
        };
        body += &format!("    r.{} = {v};\n", m.name);
    }
    body + "    return r;\n}\n"
}

/// How a binding is accessed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A uniform block.
    Uniform,
    /// Read-only storage.
    Read,
    /// Read-write storage.
    ReadWrite,
}

/// One binding of group 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Its number.
    pub number: u32,
    /// The WGSL variable.
    pub name: &'static str,
    /// How it is accessed.
    pub access: Access,
    /// The WGSL type.
    pub ty: &'static str,
}

impl Binding {
    /// Its WGSL declaration.
    pub fn declaration(&self) -> String {
        let space = match self.access {
            Access::Uniform => "uniform",
            Access::Read => "storage, read",
            Access::ReadWrite => "storage, read_write",
        };
        format!("@group(0) @binding({}) var<{space}> {}: {};\n", self.number, self.name, self.ty)
    }
}

