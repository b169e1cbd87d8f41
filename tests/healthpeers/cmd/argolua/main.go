// Command argolua runs an Argo CD resource health script with gopher-lua, the Lua
// interpreter Argo CD embeds, the way Argo CD runs one: the object as the global
// `obj` (JSON objects as tables, arrays as 1-based tables), only the safe standard
// libraries, and the returned table's `status` and `message` as the verdict.
//
//	argolua health.lua < objects.json
//
// Reads a JSON array of objects on stdin; writes a JSON array of
// {"status": "...", "message": "..."} on stdout, in the same order.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	lua "github.com/yuin/gopher-lua"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: argolua health.lua < objects.json")
		os.Exit(2)
	}
	script, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "argolua: %v\n", err)
		os.Exit(2)
	}
	var objects []interface{}
	if err := json.NewDecoder(os.Stdin).Decode(&objects); err != nil {
		fmt.Fprintf(os.Stderr, "argolua: stdin is not a JSON array of objects: %v\n", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(objects))
	for i, object := range objects {
		got, err := run(string(script), object)
		if err != nil {
			fmt.Fprintf(os.Stderr, "argolua: object %d: %v\n", i, err)
			os.Exit(1)
		}
		out = append(out, got)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "argolua: %v\n", err)
		os.Exit(1)
	}
}

func run(script string, object interface{}) (verdict, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	// Argo CD opens these libraries only (no io, os or package).
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
		{lua.CoroutineLibName, lua.OpenCoroutine},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	L.SetGlobal("obj", toLua(L, object))
	if err := L.DoString(script); err != nil {
		return verdict{}, err
	}
	table, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return verdict{}, fmt.Errorf("the script returned %s, not a table", L.Get(-1).Type())
	}
	status, ok := table.RawGetString("status").(lua.LString)
	if !ok {
		return verdict{}, fmt.Errorf("the returned table has no string status")
	}
	message := ""
	if text, ok := table.RawGetString("message").(lua.LString); ok {
		message = string(text)
	}
	return verdict{Status: string(status), Message: message}, nil
}

func toLua(L *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		table := L.NewTable()
		for _, item := range v {
			table.Append(toLua(L, item))
		}
		return table
	case map[string]interface{}:
		table := L.NewTable()
		for key, item := range v {
			table.RawSetString(key, toLua(L, item))
		}
		return table
	default:
		panic(fmt.Sprintf("unexpected JSON value %T", value))
	}
}
