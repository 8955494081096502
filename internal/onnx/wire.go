package onnx

// Field numbers from onnx/onnx.proto. Only the fields this package writes or
// reads are listed; everything else is skipped by the reader.
const (
	// ModelProto
	modelIRVersion       = 1
	modelProducerName    = 2
	modelProducerVersion = 3
	modelGraph           = 7
	modelOpsetImport     = 8

	// OperatorSetIdProto
	opsetDomain  = 1
	opsetVersion = 2

	// GraphProto
	graphNode                    = 1
	graphName                    = 2
	graphInitializer             = 5
	graphInput                   = 11
	graphOutput                  = 12
	graphValueInfo               = 13
	graphSparseInitializer       = 15
	sparseTensorValues           = 1 // SparseTensorProto.values
	nodeInput                    = 1
	nodeOutput                   = 2
	nodeName                     = 3
	nodeOpType                   = 4
	nodeAttribute                = 5
	nodeDomain                   = 7
	attrName                     = 1
	attrF                        = 2
	attrI                        = 3
	attrS                        = 4
	attrT                        = 5
	attrFloats                   = 7
	attrInts                     = 8
	attrStrings                  = 9
	attrType                     = 20
	attrTypeFloat                = 1
	attrTypeInt                  = 2
	attrTypeString               = 3
	attrTypeTensor               = 4
	attrTypeFloats               = 6
	attrTypeInts                 = 7
	attrTypeStrings              = 8
	tensorDims                   = 1
	tensorDataType               = 2
	tensorFloatData              = 4
	tensorInt32Data              = 5
	tensorInt64Data              = 7
	tensorName                   = 8
	tensorRawData                = 9
	tensorExternalData           = 13
	tensorDataLocation           = 14
	tensorLocationExternal       = 1
	entryKey                     = 1 // StringStringEntryProto.key
	entryValue                   = 2 // StringStringEntryProto.value
	valueInfoName                = 1
	valueInfoType                = 2
	typeTensorType               = 1
	typeTensorElemType           = 1
	typeTensorShape              = 2
	shapeDim                     = 1
	dimValue                     = 1
	dimParam                     = 2
	defaultIRVersion       int64 = 8
	defaultOpset           int64 = 17
)
