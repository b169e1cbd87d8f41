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
