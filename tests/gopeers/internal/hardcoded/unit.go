package hardcoded

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/buger/jsonparser"

	"github.com/caraml-dev/turing/engines/experiment/pkg/request"
)

// unitValue reads a request's unit value the way Turing's current
// request.GetValueFromHTTPRequest does: a header's values joined by ",", or a
// dot-separated JSON path into the payload whose string, number, boolean, array
// or object text is taken as is (a JSON null gives ""). The module version we
// build against predates that function (it took only the first header value and
// refused arrays and objects), so this is written out here.
func unitValue(header http.Header, payload []byte, src request.FieldSource, field string) (string, error) {
	switch src {
	case request.PayloadFieldSource:
		value, typ, _, _ := jsonparser.Get(payload, strings.Split(field, ".")...)
		switch typ {
		case jsonparser.String, jsonparser.Number, jsonparser.Boolean, jsonparser.Array, jsonparser.Object:
			return string(value), nil
		case jsonparser.Null:
			return "", nil
		case jsonparser.NotExist:
			return "", fmt.Errorf("Field %s not found in the request payload: Key path not found", field)
		default:
			return "", fmt.Errorf("Field %s can not be parsed as string value, unsupported type: %s", field, typ.String())
		}
	case request.HeaderFieldSource:
		value := strings.Join(header.Values(field), ",")
		if value == "" {
			return "", fmt.Errorf("Field %s not found in the request header", field)
		}
		return value, nil
	default:
		return "", errors.New("Unrecognized field source " + string(src))
	}
}
