// wgsl_reflect's package.json says "type": "module" but points "main" at a CommonJS build, so Node
// can only load its ESM build by path; its types are the package's own.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
