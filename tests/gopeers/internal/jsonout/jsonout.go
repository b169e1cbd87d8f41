// Package jsonout turns Go values into plain JSON-able values for comparing
// gob results across languages: structs become objects keyed by Go field
// name (all exported fields, zero or not), []byte and json.RawMessage become
// hex strings, time.Time an RFC 3339 string with nanoseconds and its offset,
// nil pointers, slices, maps and interfaces null, and non-finite floats the
// strings "NaN", "+Inf", "-Inf".
package jsonout

import (
	"encoding/hex"
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"
)

var timeType = reflect.TypeOf(time.Time{})

// Convert returns a JSON-able form of v.
func Convert(v interface{}) interface{} {
	return convert(reflect.ValueOf(v))
}

func convert(v reflect.Value) interface{} {
	if !v.IsValid() {
		return nil
	}
	if v.Type() == timeType {
		return v.Interface().(time.Time).Format(time.RFC3339Nano)
	}
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return convert(v.Elem())
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint()
	case reflect.Float32, reflect.Float64:
		f := v.Float()
		switch {
		case math.IsNaN(f):
			return "NaN"
		case math.IsInf(f, 1):
			return "+Inf"
		case math.IsInf(f, -1):
			return "-Inf"
		}
		return f
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		return []float64{real(c), imag(c)}
	case reflect.String:
		return v.String()
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return hex.EncodeToString(v.Bytes())
		}
		fallthrough
	case reflect.Array:
		out := make([]interface{}, v.Len())
		for i := range out {
			out[i] = convert(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		out := make(map[string]interface{}, v.Len())
		iter := v.MapRange()
		for iter.Next() {
			out[fmt.Sprint(iter.Key().Interface())] = convert(iter.Value())
		}
		return out
	case reflect.Struct:
		out := map[string]interface{}{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).PkgPath != "" {
				continue
			}
			out[t.Field(i).Name] = convert(v.Field(i))
		}
		return out
	}
	return fmt.Sprintf("<%s>", v.Kind())
}

// Tagged returns a JSON-able form of v in which every value names its Go kind,
// so that a value decoded elsewhere can be checked exactly, kind and all:
//
//	{"bool": b}  {"int": n}  {"uint": n}
//	{"float": "<16 hex digits: the float64 bits>"}  {"complex": ["<bits>", "<bits>"]}
//	{"string": "<hex of the bytes>"}  {"bytes": "<hex>" | null}
//	{"time": {"unix", "nanos", "offset" (seconds east of UTC), "utc" (location is time.UTC), "zero", "text"}}
//	{"slice": [...] | null}  {"array": [...]}  {"map": [[key, value], ...] | null} (sorted by key)
//	{"ptr": value | null}  {"iface": {"type": "<dynamic type>", "value": value} | null}
//	{"struct": {"<exported field>": value, ...}}
func Tagged(v interface{}) interface{} {
	return tagged(reflect.ValueOf(v))
}

func tagged(v reflect.Value) interface{} {
	if !v.IsValid() {
		return map[string]interface{}{"iface": nil}
	}
	if v.Type() == timeType {
		t := v.Interface().(time.Time)
		_, offset := t.Zone()
		return map[string]interface{}{"time": map[string]interface{}{
			"unix": t.Unix(), "nanos": t.Nanosecond(), "offset": offset,
			"utc": t.Location() == time.UTC, "zero": t.IsZero(), "text": t.Format(time.RFC3339Nano),
		}}
	}
	tag := func(kind string, value interface{}) interface{} {
		return map[string]interface{}{kind: value}
	}
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() {
			return tag("ptr", nil)
		}
		return tag("ptr", tagged(v.Elem()))
	case reflect.Interface:
		if v.IsNil() {
			return tag("iface", nil)
		}
		return tag("iface", map[string]interface{}{"type": v.Elem().Type().String(), "value": tagged(v.Elem())})
	case reflect.Bool:
		return tag("bool", v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return tag("int", v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return tag("uint", v.Uint())
	case reflect.Float32, reflect.Float64:
		return tag("float", fmt.Sprintf("%016x", math.Float64bits(v.Float())))
	case reflect.Complex64, reflect.Complex128:
		c := v.Complex()
		return tag("complex", []string{
			fmt.Sprintf("%016x", math.Float64bits(real(c))), fmt.Sprintf("%016x", math.Float64bits(imag(c)))})
	case reflect.String:
		return tag("string", hex.EncodeToString([]byte(v.String())))
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			if v.IsNil() {
				return tag("bytes", nil)
			}
			return tag("bytes", hex.EncodeToString(v.Bytes()))
		}
		if v.IsNil() {
			return tag("slice", nil)
		}
		return tag("slice", elements(v))
	case reflect.Array:
		return tag("array", elements(v))
	case reflect.Map:
		if v.IsNil() {
			return tag("map", nil)
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
		entries := make([]interface{}, len(keys))
		for i, k := range keys {
			entries[i] = []interface{}{tagged(k), tagged(v.MapIndex(k))}
		}
		return tag("map", entries)
	case reflect.Struct:
		fields := map[string]interface{}{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			if t.Field(i).PkgPath == "" {
				fields[t.Field(i).Name] = tagged(v.Field(i))
			}
		}
		return tag("struct", fields)
	}
	return tag("unsupported", v.Kind().String())
}

func elements(v reflect.Value) []interface{} {
	out := make([]interface{}, v.Len())
	for i := range out {
		out[i] = tagged(v.Index(i))
	}
	return out
}
